import { join } from 'node:path';
import { loadModelFile } from '../../src-main/node/io/model-file.ts';
import { materializeWeights } from '../corpus/materialize.ts';
import { normalizeModel } from '../../src-main/core/passes/index.ts';
import { L1NormPruner } from '../../src-main/core/compress/pruning/index.ts';
import { resolveAutoDependencyGroups } from '../../src-main/core/compress/speedup/index.ts';
import { ModelSpeedup } from '../../src-main/node/speedup/index.ts';
import { trace } from '../../src-main/node/runtime/index.ts';
import { modelStats } from '../../src-main/core/analysis/stats.ts';

for (const name of process.argv.slice(2)) {
  try {
    const raw = loadModelFile(join(import.meta.dirname, 'models', `${name}.onnx`), { allowWeightless: true });
    const { model, report: norm } = normalizeModel(raw);
    materializeWeights(model, 0);
    console.log(norm.summary);
    const t = await trace(model, { dimSizes: { batch: 1 } });
    const shapes = new Map([...t.values].map(([k, v]) => [k, v.shape]));
    console.log(name, 'macs', modelStats(model, shapes).macs);
    const auto = resolveAutoDependencyGroups([{ op_types: ['Conv', 'Gemm'], sparse_ratio: 0.5, dependency_group_id: 'auto' }], model, shapes);
    console.log(' diags', auto.diagnostics.slice(0, 5).map((d) => `${d.code} ${d.message}`));
    const p = new L1NormPruner(model, auto.configList, { shapes });
    const { masks, applyMethods } = await p.compress();
    const { report } = await new ModelSpeedup(model, masks, { applyMethods, benchmark: false, verifySamples: 1 }).speedupModel();
    console.log(' mac ratio', report.macRatio, 'err', report.verification.maxRelErr);
  } catch (e) {
    console.log(name, 'FAILED', (e as Error).name, (e as Error).message.slice(0, 400));
  }
}
