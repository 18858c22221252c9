/** @file The pruning-speedup report: what shrank, by how much, how fast it runs, and how exactly it matches the masked model. Pure types: imports nothing, never Node or DOM. */

/** One layer whose channels a mask touched or a group decision changed. */
export interface SpeedupLayerReport {
  node: string;
  opType: string;
  /** 'source': creates its channels (Conv, Gemm, MatMul); 'pass': maps them one to one (depthwise Conv, BN). */
  kind: 'source' | 'pass';
  /** Output channels (features) before and after. */
  channelsBefore: number;
  channelsAfter: number;
  /** Channels the layer's own mask asked to remove, and how many of them went. */
  requested: number;
  removedRequested: number;
  /** Dependency group id. */
  group: string;
}

/** One dependency group: channels that are removed together everywhere or nowhere. */
export interface SpeedupGroupReport {
  id: string;
  members: string[];
  /** Channel i of every member is one channel (NNI's dependency_group_id semantics). */
  aligned: boolean;
  /** Channel classes in the group, and how many were removed. */
  classes: number;
  removed: number;
  /** Classes some member asked to remove but that stay, and why (distinct reasons). */
  keptRequested: number;
  reasons: string[];
}

/** Size and cost of one model. */
export interface ModelNumbers {
  params: number;
  macs: number;
  sizeBytes: number;
  /** ORT p50 latency in ms (measured side by side with the other model), when benchmarked. */
  latencyMs?: number;
}

export interface SpeedupLatency {
  threads: number;
  rounds: number;
  before: { p50: number; p90: number };
  after: { p50: number; p90: number };
  /** Median over rounds of after/before measured back to back. */
  roundRatio: number;
}

export interface SpeedupVerification {
  /** max over outputs and samples of ‖compact − masked‖∞ / ‖masked‖∞. */
  maxRelErr: number;
  tolerance: number;
  samples: number;
  /** The output where the largest error was seen. */
  output: string;
  /** Which masked model served as reference: the simulation module's, or the masks baked into the weights. */
  reference: 'simulate' | 'baked';
}

export interface SpeedupReport {
  before: ModelNumbers;
  after: ModelNumbers;
  /** macs after / before. */
  macRatio: number;
  /** p50 latency after / before, when benchmarked; compare with macRatio. */
  latencyRatio?: number;
  latency?: SpeedupLatency;
  layers: SpeedupLayerReport[];
  groups: SpeedupGroupReport[];
  /** Channels the masks asked to remove over all layers, how many went, and the fraction lost to group conflicts. */
  sparsity: { requestedChannels: number; removedChannels: number; lost: number };
  verification: SpeedupVerification;
  roundTo?: number;
  warnings: string[];
  /** Milliseconds: the speedup pass itself (analysis + shrink), tracing, verification, benchmark. */
  timings: { speedupMs: number; traceMs: number; verifyMs: number; benchMs?: number };
}
