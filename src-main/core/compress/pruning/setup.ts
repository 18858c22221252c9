/**
 * @file Pruning setup, done once when a pruner is built: each resolved target's canonical block view, which rule
 * family it falls in (threshold / dependency / global / ratio / align, NNI's filters), and every check that can be
 * made before metrics exist — granularity fits, group members agree, align sources exist and fit. Faults become
 * diagnostics naming the config path and node. Pure: imports only the IR, sibling modules and the shared config.
 */
import { numel, type Dim, type Model } from '../../ir/index.ts';
import {
  AUTO_DEPENDENCY_GROUP,
  defaultGranularity,
  normaliseTargetNames,
  type CompressorFamily,
  type Diagnostic,
  type PruningConfig,
  type PruningSetting,
} from '../../../../src-shared/config/index.ts';
import { bindTarget, isBindingFault, settingPath, type ResolvedTarget, type TargetTable } from '../targets/index.ts';
import { GranularityFault, blockView, isStructured, kernelFor, type BlockView } from './granularity.ts';
import type { RuleTarget } from './sparsity.ts';

/** A target ready for the rules. */
export interface Prepared {
  t: ResolvedTarget<'pruning'>;
  /** ONNX dims of the target. */
  dims: Dim[];
  /** ONNX axes in canonical out-first order. */
  perm: number[];
  view: BlockView;
  rule: RuleTarget;
  /** Needs a metric (rules 1–4). */
  ranked: boolean;
  /** Falls to rule 5 (align) and has a usable source. */
  align?: { source: Prepared; dims: number[] };
}

/** Concrete shapes of activations by value name (e.g. from a concrete trace). */
export type ShapeSource = ReadonlyMap<string, readonly number[]> | Readonly<Record<string, readonly number[]>>;

export interface SetupOptions {
  family: CompressorFamily;
  /** FPGM needs multi-element blocks. */
  structuredOnly?: string;
  shapes?: ShapeSource;
}

const isSet = (v: unknown) => v !== null && v !== undefined;
const groupKey = (id: string | number) => `${typeof id}:${id}`;

/** Targets a rule group: the metric rules in NNI's filter order. */
export function ruleFamily(s: PruningSetting): 'dependency' | 'global' | 'ratio' | 'align' | 'none' {
  if (isSet(s.dependency_group_id)) return 'dependency';
  if (isSet(s.global_group_id)) return 'global';
  if (isSet(s.sparse_ratio)) return 'ratio';
  if (isSet(s.align)) return 'align';
  return 'none';
}

/** Prepares every resolved target; pushes diagnostics; returns the usable ones. */
export function prepareTargets(
  model: Model,
  configs: readonly PruningConfig[],
  table: TargetTable<'pruning'>,
  opts: SetupOptions,
  diagnostics: Diagnostic[],
): Prepared[] {
  const prepared: Prepared[] = [];
  const byKey = new Map<string, Prepared>();
  for (const t of table.targets) {
    const p = prepareOne(t, configs[t.configIndex]!, opts, diagnostics);
    if (!p) continue;
    prepared.push(p);
    byKey.set(`${t.nodeName}\u0000${t.name}`, p);
  }
  checkGroups(prepared, configs, diagnostics);
  for (const p of prepared) linkAlign(p, model, configs, table, byKey, diagnostics);
  warnInactive(prepared, diagnostics);
  return prepared;
}

/** A config whose targets carry no ratio, threshold, group or usable align prunes nothing: say so. */
function warnInactive(prepared: readonly Prepared[], diagnostics: Diagnostic[]): void {
  const active = new Set<number>();
  const seen = new Map<number, string>();
  for (const p of prepared) {
    seen.set(p.t.configIndex, p.t.path);
    if (p.ranked || p.align) active.add(p.t.configIndex);
  }
  for (const [i, path] of seen) {
    if (active.has(i)) continue;
    diagnostics.push({
      level: 'warning',
      code: 'inactive-config',
      path,
      message:
        'no target of this config has sparse_ratio, sparse_threshold, a group id or an align source with a mask: it prunes nothing',
    });
  }
}

function prepareOne(
  t: ResolvedTarget<'pruning'>,
  entry: PruningConfig,
  opts: SetupOptions,
  diagnostics: Diagnostic[],
): Prepared | null {
  const error = (code: string, key: string, message: string) => {
    diagnostics.push({
      level: 'error',
      code,
      path: settingPath(entry, t.configIndex, t.name, key),
      node: t.nodeName,
      message,
    });
    return null;
  };
  const s = t.setting;
  const ranked = isSet(s.sparse_threshold) || ['dependency', 'global', 'ratio'].includes(ruleFamily(s));
  const dims = targetDims(t, opts.shapes);
  // a target with no ratio, threshold, group or align gets no mask: its shape does not matter (template defaults)
  if (!dims && !ranked && ruleFamily(s) !== 'align') return null;
  if (!dims)
    return error(
      'unknown-shape',
      'target_names',
      `the shape of ${t.name} ("${t.value.name}") is not known; pass shapes from a trace (the CLI and the prune step trace the model themselves)`,
    );
  if (ranked && t.kind !== 'parameter') {
    const key = isSet(s.sparse_threshold)
      ? 'sparse_threshold'
      : isSet(s.dependency_group_id)
        ? 'dependency_group_id'
        : isSet(s.global_group_id)
          ? 'global_group_id'
          : 'sparse_ratio';
    return error(
      'activation-metric',
      key,
      `one-shot pruners rank weights; ${t.name} is an activation and can take a mask only through align`,
    );
  }
  if (s.dependency_group_id === AUTO_DEPENDENCY_GROUP) {
    return error(
      'auto-dependency',
      'dependency_group_id',
      `dependency_group_id '${AUTO_DEPENDENCY_GROUP}' needs the channel-dependency analysis, which needs traced shapes: build the pruner with options.shapes (a trace of the model), or give explicit group ids`,
    );
  }
  if (ranked && t.value.dtype !== undefined && !['float32', 'float16', 'bfloat16', 'float64'].includes(t.value.dtype)) {
    return error('not-float', 'target_names', `${t.name} holds ${t.value.dtype}; only float weights can be ranked`);
  }
  // activations resolved without a static shape got a rank-0 permutation; theirs is the identity
  const perm = t.perm.length === dims.length ? t.perm : dims.map((_, i) => i);
  const canon = perm.map((a) => dims[a]!);
  const g = s.granularity ?? 'default';
  let view: BlockView;
  try {
    view = blockView(canon, kernelFor(g === 'default' ? defaultGranularity(opts.family, t.name) : g, canon.length));
  } catch (e) {
    if (!(e instanceof GranularityFault)) throw e;
    return error(
      'bad-granularity',
      'granularity',
      `granularity ${JSON.stringify(g)} on ${t.name} (canonical shape [${canon.join(', ')}]): ${e.message}`,
    );
  }
  // channel keywords are structured by definition (a BatchNorm scale has one element per channel); a block list of ones is not
  if (ranked && opts.structuredOnly && Array.isArray(g) && !isStructured(view)) {
    return error(
      'needs-structured-granularity',
      'granularity',
      `${opts.structuredOnly} needs blocks of more than one element; granularity ${JSON.stringify(g)} is element-wise`,
    );
  }
  const n = dims.every((d): d is number => typeof d === 'number') ? numel(dims) : numel(view.maskDims);
  return { t, dims, perm, view, ranked, rule: { setting: s, metric: null, numel: n, mask: null } };
}

function targetDims(t: ResolvedTarget<'pruning'>, shapes: ShapeSource | undefined): Dim[] | undefined {
  if (t.value.initializer) return [...t.value.initializer.dims];
  const given =
    shapes instanceof Map
      ? shapes.get(t.value.name)
      : (shapes as Record<string, readonly number[]> | undefined)?.[t.value.name];
  if (given) return [...given];
  return t.value.shape ? [...t.value.shape] : undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Groups

/** Dependency and global groups: members agree on the ratio; dependency members on the metric shape and rows. */
function checkGroups(
  prepared: readonly Prepared[],
  configs: readonly PruningConfig[],
  diagnostics: Diagnostic[],
): void {
  const groups = new Map<string, { kind: 'dependency' | 'global'; id: string | number; members: Prepared[] }>();
  for (const p of prepared) {
    const fam = ruleFamily(p.t.setting);
    if (fam !== 'dependency' && fam !== 'global') continue;
    const id = (fam === 'dependency' ? p.t.setting.dependency_group_id : p.t.setting.global_group_id)!;
    const k = `${fam}/${groupKey(id)}`;
    if (!groups.has(k)) groups.set(k, { kind: fam, id, members: [] });
    groups.get(k)!.members.push(p);
  }
  for (const { kind, id, members } of groups.values()) {
    const names = members.map((m) => `${m.t.nodeName}.${m.t.name}`).join(', ');
    const idKey = `${kind}_group_id` as const;
    const fault = (code: string, message: string, at: Prepared = members[0]!) =>
      diagnostics.push({
        level: 'error',
        code,
        path: settingPath(configs[at.t.configIndex]!, at.t.configIndex, at.t.name, idKey),
        node: at.t.nodeName,
        message: `${kind} group ${JSON.stringify(id)} (${names}): ${message}`,
      });
    const ratios = [...new Set(members.map((m) => m.t.setting.sparse_ratio).filter(isSet))];
    if (ratios.length === 0) fault('group-no-ratio', 'no member sets sparse_ratio');
    if (ratios.length > 1) fault('group-ratio-mismatch', `members disagree on sparse_ratio (${ratios.join(' vs ')})`);
    if (kind !== 'dependency') continue;
    const shapes = members.map((m) => squeeze(m.view.blockDims).join('×') || '1');
    // equal metric shapes, or block counts that are whole multiples of the smallest (a fused q/k/v projection's
    // heads against the output projection's: read as consecutive parts, rule 2)
    const counts = members.map((m) => numel(m.view.blockDims));
    const least = Math.min(...counts);
    const tiled = counts.every(
      (c) => c % least === 0 && (c === least || squeeze(members[counts.indexOf(c)]!.view.blockDims).length <= 1),
    );
    if (new Set(shapes).size > 1 && !tiled) {
      fault(
        'group-shape-mismatch',
        `members have different metric shapes (${members.map((m, i) => `${m.t.nodeName}: ${shapes[i]}`).join('; ')}); they must prune the same number of blocks (or whole multiples of it)`,
      );
      continue;
    }
    const rows = members.reduce((a, m) => lcmOf(a, m.t.setting.internal_metric_block ?? 1), 1);
    const blocks = least;
    if (blocks % rows !== 0)
      fault('group-rows', `internal_metric_block rows (${rows}) do not divide the ${blocks} metric blocks`);
  }
}

const gcdOf = (a: number, b: number): number => (b === 0 ? a : gcdOf(b, a % b));
const lcmOf = (a: number, b: number) => (a / gcdOf(a, b)) * b;
const squeeze = (dims: readonly number[]) => dims.filter((d) => d !== 1);

// ---------------------------------------------------------------------------------------------------------------
// Align

/**
 * Rule 5's source: `align.module_name` (null = same node) and `align.target_name`. The source must be configured,
 * not itself aligned, and reduce (over the dims not listed in `align.dims`, in the source's canonical view) to the
 * aligned target's block shape.
 */
function linkAlign(
  p: Prepared,
  model: Model,
  configs: readonly PruningConfig[],
  table: TargetTable<'pruning'>,
  byKey: ReadonlyMap<string, Prepared>,
  diagnostics: Diagnostic[],
): void {
  const { t } = p;
  const align = t.setting.align;
  if (ruleFamily(t.setting) !== 'align' || !align) return;
  const path = settingPath(configs[t.configIndex]!, t.configIndex, t.name, 'align');
  const fromTemplate = path === `$[${t.configIndex}]`;
  const say = (level: Diagnostic['level'], code: string, message: string) =>
    diagnostics.push({ level, code, path, node: t.nodeName, message });
  const srcNodeName = align.module_name ?? t.nodeName;
  const srcNode = model.graph.nodes.find((n) => n.name === srcNodeName);
  if (!srcNode)
    return void say('error', 'align-missing-node', `align.module_name '${srcNodeName}' names no node of the graph`);
  const srcName = normaliseTargetNames([align.target_name])[0]!;
  const src = byKey.get(`${srcNodeName}\u0000${srcName}`);
  if (!src) {
    const b = bindTarget(srcNode, srcName);
    if (isBindingFault(b) || b.value === null) {
      const why = isBindingFault(b) ? b.fault : `${srcNode.label} has no ${srcName}`;
      return void say(
        fromTemplate ? 'info' : 'error',
        'align-missing-target',
        `align source ${srcName} of "${srcNodeName}" does not exist: ${why}`,
      );
    }
    const skipped = table.diagnostics.some((d) => d.node === srcNodeName && d.code === 'not-an-initializer');
    if (fromTemplate && (skipped || srcNodeName === t.nodeName))
      return void say(
        t.explicit ? 'warning' : 'info',
        'align-source-unconfigured',
        `align source ${srcName} of "${srcNodeName}" is not configured; ${t.name} gets no mask`,
      );
    return void say(
      'error',
      'align-source-unconfigured',
      `align source ${srcName} of "${srcNodeName}" is not configured by any config; configure it (it gives this target its mask)`,
    );
  }
  if (ruleFamily(src.t.setting) === 'align')
    return void say(
      'error',
      'align-chain',
      `align source ${srcName} of "${srcNodeName}" is itself aligned; align to a ranked target`,
    );
  if (!src.ranked) {
    return void say(
      fromTemplate && !t.explicit ? 'info' : 'warning',
      'align-source-unmasked',
      `align source ${srcName} of "${srcNodeName}" has no sparse_ratio, sparse_threshold or group; ${t.name} gets no mask`,
    );
  }
  const rank = src.view.maskDims.length;
  const bad = align.dims.find((d) => d < -rank || d >= rank);
  if (bad !== undefined)
    return void say('error', 'align-bad-dims', `align.dims ${bad} is out of range for ${srcName} of rank ${rank}`);
  const dims = [...new Set(align.dims.map((d) => (d < 0 ? d + rank : d)))].sort((a, b) => a - b);
  const reduced = squeeze(dims.map((d) => src.view.maskDims[d]!));
  const wanted = squeeze(p.view.blockDims);
  // a source reduced to one value (e.g. an in_channel weight mask aligned on dim 0) broadcasts, as in NNI
  if (reduced.length > 0 && reduced.join('×') !== wanted.join('×')) {
    return void say(
      'error',
      'align-shape-mismatch',
      `${srcName} of "${srcNodeName}" reduced to dims [${dims.join(', ')}] has shape [${reduced.join(', ')}], but ${t.name} has ${wanted.length ? `[${wanted.join(', ')}]` : 'one'} block(s) (canonical out-first view)`,
    );
  }
  p.align = { source: src, dims };
}
