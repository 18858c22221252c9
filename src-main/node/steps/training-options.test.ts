/** @file A training step's options as the trainer takes them: every schedule kind the plan offers is the trainer's. */
import { describe, expect, it } from 'vitest';
import { learningRate } from '../train/schedule.ts';
import { trainingOptions, type StepTraining } from './training-options.ts';

const step = (schedule: StepTraining['schedule']): StepTraining => ({
  epochs: 2,
  lr: 0.1,
  batchSize: 10,
  optimizer: { kind: 'sgd' },
  schedule,
});

describe('trainingOptions', () => {
  it('keeps each schedule kind, linear included (it used to run as constant), and counts the steps', () => {
    const linear = trainingOptions(step({ kind: 'linear', endLr: 0 }), 100);
    expect(linear.schedule).toEqual({ type: 'linear', endLr: 0 });
    expect(linear.totalSteps).toBe(20);
    expect(learningRate(linear.schedule, 0.1, 10, 20)).toBeCloseTo(0.05, 12);
    expect(trainingOptions(step({ kind: 'cosine', minLr: 0 }), 100).schedule.type).toBe('cosine');
    expect(trainingOptions(step({ kind: 'constant' }), 100).schedule).toEqual({ type: 'constant' });
  });
});
