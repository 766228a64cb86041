/**
 * Model presets, each with the batch it trains on. The defaults train in minutes on a 2-core machine
 * without a GPU (SwiftShader); the larger ones are for real GPUs.
 */
import type { LsaConfig } from './lsa.ts';
import type { TransformerConfig } from './transformer.ts';

export interface TransformerPreset {
  config: TransformerConfig;
  B: number;
  T: number;
  note: string;
}

export const transformerPresets: Record<string, TransformerPreset> = {
  tiny: {
    config: { vocab: 32, context: 64, dModel: 64, layers: 2, heads: 4 },
    B: 8,
    T: 64,
    note: 'default: a step in about 0.12 s on 2 CPU cores (SwiftShader)',
  },
  small: {
    config: { vocab: 64, context: 128, dModel: 128, layers: 4, heads: 4 },
    B: 16,
    T: 128,
    note: 'a real GPU, or patience',
  },
  medium: {
    config: { vocab: 128, context: 256, dModel: 256, layers: 6, heads: 8 },
    B: 32,
    T: 256,
    note: 'a real GPU',
  },
};

export const lsaPresets: Record<string, LsaConfig> = {
  merged: { form: 'merged', d: 8, n: 32, batch: 64 },
  factorised: { form: 'factorised', d: 8, n: 32, batch: 64 },
};
