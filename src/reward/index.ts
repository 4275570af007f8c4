// The rewards of the RLHF stage: word-utility tables (VADER or a file) and ONNX sequence classifiers.
export { rewardWords } from './words.js';
export {
  UtilityTable, UTILITY_REWARD_DEFAULTS, utilityScore, absMeanUtility, whitespaceUtilities, resolveUtilityRewardOptions,
  type UtilityRewardOptions, type UtilityTableFormat,
} from './utility-table.js';
export {
  ClassifierReward, CLASSIFIER_REWARD_DEFAULTS, CLASSIFIER_FILES, CLASSIFIER_OPTIONAL_FILES, resolveClassifier,
  type ClassifierRewardOptions, type ResolveClassifierOptions,
} from './classifier.js';
export { createReward, parseRewardSpec, UtilityReward, REWARD_SPEC_FORMS, type RewardModel, type RewardSpec, type CreateRewardOptions } from './reward.js';
