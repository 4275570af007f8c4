// What a pipeline run reports: one plain JSON object (report.json) assembled by the orchestrator
// (src/pipeline) from the stage outputs in the run folder, and rendered to report.md, index.html and
// figures/ by src/report. Paths are relative to the run folder. Every section is optional: a run
// that stopped early, or was configured without a stage, reports what it has.
import type { PpoStepStats } from '../rlhf/trainer.js';
import type { EvalUtilityResult } from '../rlhf/eval-utility.js';
import type { FeatureRecords } from '../interpret/records.js';
import type { Table3, SimulationScores } from '../interpret/scores.js';

export const REPORT_VERSION = 1;

export interface ReportData {
  version: typeof REPORT_VERSION;
  /** Run name (config `name`) and when the report was made (ISO time). */
  name: string;
  createdAt: string;
  /** The resolved run config, as written to config.json. */
  config: Record<string, unknown>;
  models: { base: string; tuned: string; tunedByRlhf: boolean };
  /** Each stage's status and wall time. */
  stages: { name: string; status: 'done' | 'skipped' | 'cached' | 'failed'; seconds: number | null; error?: string }[];
  rlhf?: {
    dir: string;
    steps: number;
    reward: string;
    /** The log, one entry per step. */
    log: PpoStepStats[];
    /** Up to 8 samples of the last step. */
    samples: { step: number; text: string; score: number }[];
    /** curves.svg / curves.png, relative paths. */
    curves?: { svg: string; png: string };
  };
  divergence?: {
    layers: { layer: number; divergence: number }[];
    top: number[];
    chart?: { svg: string; png: string };
  };
  /** Layers studied (from divergence or the config), and the hook point. */
  layers: number[];
  hook: string;
  /** Tables 6–7: every trained dictionary. */
  saes: {
    model: string; // 'base' | 'tuned'
    layer: number;
    size: number;
    dir: string;
    nmse: number;
    mse: number;
    l0: number;
    dead: number;
    l1: number;
    trainRows: number;
    seconds: number;
  }[];
  /** Per model × layer: MMCS of the large/small pair and each large feature's best cosine (for distributions). */
  mmcs: {
    model: string;
    layer: number;
    match: 'max' | 'hungarian';
    mmcs: number;
    /** Best cosine of every large-dictionary feature to the small one (the MMCS distribution). */
    maxCos: number[];
    histogram?: { svg: string; png: string };
  }[];
  /** The selected features with their records (features/*.json), explanations and scores joined in. */
  features: (FeatureRecords & {
    explanations: { sample: number; text: string | null; error?: string; utility: number | null; simulation: number | null }[];
  })[];
  explainer: { name: string; samples: number; requests: number; cacheHits: number; failures: number } | null;
  /** The paper's Table 3 (aggregate absolute utility of the explanations), per model. */
  table3?: Table3;
  simulation?: SimulationScores;
  /** The paper's Table 4 (aggregate absolute utility of completions), per model. */
  table4?: EvalUtilityResult;
}
