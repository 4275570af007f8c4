// TRL's KL controllers: the β of the per-token KL penalty, updated once per PPO step.

export interface KlController {
  /** The current β. */
  readonly value: number;
  /** After a step whose batch had mean sequence KL `currentKl` over `nSteps` rollouts. */
  update(currentKl: number, nSteps: number): void;
}

/**
 * Ziegler et al.'s adaptive controller (TRL AdaptiveKLController):
 * β ← β·(1 + clip(KL/target − 1, −0.2, 0.2)·nSteps/horizon).
 */
export class AdaptiveKlController implements KlController {
  value: number;
  constructor(initKlCoef: number, readonly target: number, readonly horizon: number) {
    this.value = initKlCoef;
  }

  update(currentKl: number, nSteps: number): void {
    const proportionalError = Math.min(0.2, Math.max(-0.2, currentKl / this.target - 1));
    this.value *= 1 + (proportionalError * nSteps) / this.horizon;
  }
}

/** A constant β (TRL FixedKLController). */
export class FixedKlController implements KlController {
  constructor(readonly value: number) {}
  update(): void {}
}
