/**
 * @file The teacher inside the student's training step: the teacher's graph copied into the student's model under
 * a name prefix (so no node, value or initializer collides), its data inputs wired to the student's, its weights
 * left as initializers (constants of the step: no gradients, no optimizer state) and its nodes listed as frozen (the
 * training forward runs them as in inference: BN on running statistics, dropout off). One ORT call then runs
 * both forwards on the same batch. Pure: imports only the IR.
 */
import { StudioError } from '../../ir/errors.ts';
import type { Dim, Graph, Model, Value } from '../../ir/index.ts';
import { quoted } from '../../../../src-shared/errors.ts';

/** A teacher that cannot run beside the student (inputs that differ, subgraph ops, not a model). */
export class TeacherError extends StudioError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(message, 'TEACHER', details);
  }
}

/** The default name prefix of the teacher's copy. */
export const TEACHER_PREFIX = 'teacher/';

export interface MergedTeacher {
  /** The student's model, now holding the teacher's nodes and initializers too. */
  model: Model;
  /** Names of the teacher's nodes in `model` (frozen in the training step). */
  frozenNodes: Set<string>;
  /** The name in `model` of a teacher value (its name in the teacher's own graph). */
  valueName(teacherValue: string): string;
}

const dataInputs = (g: Graph) => g.inputs.filter((v) => !v.initializer);

/** Dims that could both hold the same tensor (a symbolic or unknown dim matches anything). */
function dimsAgree(a: readonly Dim[] | undefined, b: readonly Dim[] | undefined): boolean {
  if (!a || !b) return true;
  if (a.length !== b.length) return false;
  return a.every((d, i) => typeof d !== 'number' || typeof b[i] !== 'number' || d === b[i]);
}

const dimsText = (d: readonly Dim[] | undefined) => (d ? `[${d.map((x) => x ?? '?').join(', ')}]` : 'unknown');

/**
 * Check that the teacher takes what the student takes: the same number of data inputs, in order, with shapes and
 * element types that agree (the teacher reads the student's batch).
 * @throws TeacherError naming the input that differs
 */
export function checkTeacherInputs(student: Model, teacher: Model): void {
  const s = dataInputs(student.graph);
  const t = dataInputs(teacher.graph);
  if (s.length !== t.length) {
    throw new TeacherError(
      `the teacher has ${t.length} data input(s) (${t.map((v) => quoted(v.name)).join(', ')}) but the student has ${s.length} (${s.map((v) => quoted(v.name)).join(', ')})`,
      {
        teacher: t.map((v) => v.name),
        student: s.map((v) => v.name),
      },
    );
  }
  s.forEach((sv, i) => {
    const tv = t[i]!;
    if (!dimsAgree(sv.shape, tv.shape) || (sv.dtype && tv.dtype && sv.dtype !== tv.dtype)) {
      throw new TeacherError(
        `the teacher's input ${quoted(tv.name)} is ${tv.dtype ?? '?'} ${dimsText(tv.shape)} but the student's input ${quoted(sv.name)} is ${sv.dtype ?? '?'} ${dimsText(sv.shape)}`,
        { input: tv.name, teacherShape: tv.shape, studentShape: sv.shape },
      );
    }
  });
}

/**
 * Copy `teacher` into `student` (edited in place: pass a copy): every teacher node, value and initializer renamed `prefix + name`, the
 * teacher's data inputs replaced by the student's (by position). The teacher's outputs are not model outputs.
 *
 * @example
 * const { model, frozenNodes, valueName } = mergeTeacher(cloneModel(student), teacher);
 * buildTrainingStep(model, { ...spec, frozenNodes, lossTerms: [{ name: 'kd', build: (c) => kl(c.e, c.output(), c.value(valueName('logits'))) }] });
 * @throws TeacherError when the inputs differ or the teacher holds a subgraph op
 */
export function mergeTeacher(student: Model, teacher: Model, prefix = TEACHER_PREFIX): MergedTeacher {
  checkTeacherInputs(student, teacher);
  const model = student;
  const g = model.graph;
  const tg = teacher.graph;
  const map = new Map<Value, Value>();
  const sIn = dataInputs(g);
  dataInputs(tg).forEach((v, i) => map.set(v, sIn[i]!));
  const fresh = (name: string) => {
    const want = `${prefix}${name}`;
    return g.lookup(want) ? g.uniqueName(want) : want;
  };
  for (const v of tg.initializers) {
    const nv = g.addInitializer(fresh(v.name), v.initializer!);
    nv.type = v.type;
    map.set(v, nv);
  }
  const frozenNodes = new Set<string>();
  const taken = new Set(g.nodes.map((n) => n.name));
  for (const n of tg.nodes) {
    if (n.subgraphs().length)
      throw new TeacherError(
        `the teacher's node ${quoted(n.name)} (${n.opType}) holds a subgraph; a teacher inside the step cannot hold control flow`,
        { node: n.name },
      );
    let name = `${prefix}${n.name || n.opType}`;
    for (let k = 1; taken.has(name); k++) name = `${prefix}${n.name || n.opType}_${k}`;
    taken.add(name);
    const inputs = n.inputs.map((v) => {
      if (!v) return null;
      const m = map.get(v);
      if (!m)
        throw new TeacherError(`the teacher's node ${quoted(n.name)} reads ${quoted(v.name)}, which nothing produces`, {
          node: n.name,
          value: v.name,
        });
      return m;
    });
    const copy = g.addNode({
      opType: n.opType,
      domain: n.domain,
      name,
      inputs,
      outputs: n.outputs.map((o) => (o.anonymous ? '' : fresh(o.name))),
    });
    for (const [k, a] of n.attributes) copy.attributes.set(k, a);
    n.outputs.forEach((o, i) => {
      copy.outputs[i]!.type = o.type;
      map.set(o, copy.outputs[i]!);
    });
    frozenNodes.add(name);
  }
  for (const [d, v] of teacher.opsetImports) if (!model.opsetImports.has(d)) model.opsetImports.set(d, v);
  const names = new Map([...map].map(([k, v]) => [k.name, v.name] as const));
  return {
    model,
    frozenNodes,
    valueName: (n) => {
      const found = names.get(n);
      if (found === undefined) throw new TeacherError(`the teacher has no value ${quoted(n)}`, { value: n });
      return found;
    },
  };
}
