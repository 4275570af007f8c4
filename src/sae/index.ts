// The sparse autoencoder: config, model handle and training loop.
export { SAE_DEFAULTS, resolveSaeConfig, type SaeConfig } from './config.js';
export {
  SparseAutoencoder,
  type SaeBatchOptions,
  type SaeForwardMetrics,
  type SaeMetrics,
  type SaeParameters,
  type SaeWeights,
} from './sparse-autoencoder.js';
export { SAE_TRAIN_DEFAULTS, trainSae, type SaeTrainOptions, type SaeTrainProgress } from './train.js';
export { saeBinding, type NativeSaeHandle, type NativeSaeMetrics, type SaeBinding } from './native.js';
