// rewardlens's npm API: the stages' public pieces, re-exported from one place.
export { addon, runtime, type RuntimeBinding } from './native.js';
export { FileFormatError, invalidRange, invalidType } from './errors.js';
export * from './sae/index.js';
export {
  CFG_FILE, METRICS_FILE, SAELENS_VERSION, WEIGHTS_FILE, loadSaeFolder, readDictionary, readSaeFolder, saeLensCfg, saveSaeFolder,
  type SaeFolder, type SaveSaeOptions, type SaeTrainingRecord,
} from './sae/saelens.js';
export { readActivations, type ActivationSet } from './sae/activations-file.js';
export { syntheticSparseData, type SyntheticSet } from './sae/synthetic.js';
export * from './interpret/cosine.js';
export * from './rlhf/ppo-kernels.js';
export * from './optim/index.js';
export {
  SafetensorsFile, readSafetensors, writeSafetensors, encodeSafetensors, toF32, fromF32, halfToFloat, floatToHalf,
  type Dtype, type Tensor, type TensorInfo, type TensorToWrite,
} from './io/safetensors.js';
export { writeFileAtomic, writeJsonAtomic, writeDirAtomic } from './io/atomic.js';
export * from './model/neox-config.js';
export { NeoxEngine, hookShape, type NeoxBatch, type NeoxForwardRequest, type NeoxForwardResult, type ParameterSpec } from './model/neox-engine.js';
export { parseNeoxConfig, readNeoxConfig, neoxConfigToHf } from './model/hf-config.js';
export { loadNeoxWeights, saveNeoxCheckpoint, resolveCheckpointFiles, HostParameters } from './model/hf-checkpoint.js';
export { loadTokenizer, Tokenizer } from './model/tokenizer.js';
export { resolveModel, parseModelSpec, HubError, type ResolveModelOptions, type ResolvedModel, type HubProgress } from './model/hub.js';
export { loadModel, type LoadedModel, type LoadModelOptions } from './model/load.js';
export { verifyAgainstReference, compareTensors, type TensorComparison } from './model/verify.js';
export { openReviews, type ReviewSource, type ReviewSplit, type OpenReviewsOptions } from './data/dataset.js';
export { type ReviewRecord } from './data/corpus.js';
export { resolveDataset } from './model/hub.js';
export { readJsonl, readJsonlAll, writeJsonl } from './data/corpus.js';
export * from './data/synthetic-reviews.js';
export * from './data/build-tokenizer.js';
export * from './data/prompts.js';
export { DEFAULT_MODEL_DIR, ensureDefaultCorpus, defaultCorpusReviews } from './data/defaults.js';
export { pretrain, resolvePretrainConfig, PRETRAIN_DEFAULTS, evaluateLm } from './model/pretrain.js';
export * from './reward/index.js';
export { computeDivergence, divergenceStage, divergenceChartSvg, layerOfTensor, DIVERGENCE_DEFAULTS, type DivergenceResult, type LayerDivergence } from './interpret/divergence.js';
export { collectActivations, readActivationStore, iterateShards, readShard, readManifest, isActivationStore, storeDirName, ACTIVATION_DEFAULTS, HOOK_KINDS, type HookKind, type ActivationManifest, type ActivationStore, type ActivationStoreSummary, type CollectActivationsOptions, type ShardEntry, type StoreShard } from './interpret/activation-store.js';
export { SAE_PRESETS, SAE_PAIR_TRAINING, saePresetFor, presetSaeConfig, type SaePreset } from './sae/presets.js';
export { trainSaePair, evaluateSae, sweepL1, parseL1Grid, SAE_PAIR_DEFAULTS, type SaePairOptions, type SaePairSummary, type SaePairSize, type SaeEvaluation, type L1SweepPoint } from './interpret/sae-pairs.js';
export { linearAssignment, type Assignment } from './interpret/matching.js';
export { selectFeatures, selectFeaturesFromFolders, buildFeatureRecords, featuresStage, tokenDecoder, FEATURE_DEFAULTS, MATCH_KINDS, type MatchKind, type FeatureMatch, type FeatureSelection, type BuildRecordsOptions, type FeaturesStageOptions, type FeaturesStageSummary } from './interpret/features.js';
export { drawShown, recordLines, normaliseActivations, makeRecord, RECORD_DEFAULTS, type TokenActivation, type FeatureRecord, type FeatureRecords, type FeaturesFile } from './interpret/records.js';
export { xyChartSvg, barChartSvg, histogramSvg, svgToPng, writeChart, CHART_DEFAULTS, type Series, type XYChartSpec, type BarChartSpec, type HistogramSpec } from './report/chart.js';
export { REPORT_VERSION, type ReportData } from './report/report-data.js';
export { checkReportData } from './report/check-report-data.js';
export { reportFigures, type ReportFigure } from './report/figures.js';
export { buildReportDocument } from './report/build-document.js';
export { type ReportDocument, type Section as ReportSection, type Block as ReportBlock, type Inline as ReportInline } from './report/document.js';
export { renderMarkdown } from './report/render-markdown.js';
export { renderHtml } from './report/render-html.js';
export { writeReport, REPORT_FILES, type WrittenReport } from './report/write-report.js';
export { createExplainer, explainFeatures, EXPLAIN_DEFAULTS, type Explainer, type ExplainerOptions, type Explanation, type ExplainFeaturesOptions } from './interpret/explain/explainer.js';
export { ChatClient, CHAT_DEFAULTS, type ChatClientOptions, type ChatMessage, type ChatStats } from './interpret/explain/chat-client.js';
export { readFeaturesFile, readExplanationsFile, type ExplanationsFile } from './interpret/explain/files.js';
export { table3, simulationScores, meanSd, type Table3, type SimulationScores, type SimulationOptions } from './interpret/scores.js';
export { keywordSimulator, llmSimulator, pearson, simulationScore, heldOutRecords, type Simulator } from './interpret/simulation.js';
// Dictionary sweeps (docs/sweep.md): a grid of SAE trainings, locally or through BullMQ workers.
export { runSweep, type SweepOptions, type SweepOutcome, type SweepProgress } from './sweep/run.js';
export { resolveSweepGrid, expandGrid, parseSizes, parseBoolList, parseL1Grid as parseSweepL1Grid, SWEEP_GRID_DEFAULTS, type SweepGrid, type SweepJobConfig } from './sweep/grid.js';
export { runWorker, queueStatus, DISTRIBUTED_DEFAULTS, type WorkerOptions, type QueueCounts } from './sweep/distributed.js';
export { buildSweepReport, writeSweepReport, paretoFront, SWEEP_REPORT_DEFAULTS, type SweepReport } from './sweep/report.js';
