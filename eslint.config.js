// @ts-check
/** @file ESLint flat config. Its main job is the layering of DESIGN.md §2, enforced by import restrictions. */
import tseslint from 'typescript-eslint';

const runtimeModules = [
  'electron',
  'onnxruntime-node',
  'better-sqlite3',
  'vue',
  'pinia',
  'fs',
  'path',
  'os',
  'child_process',
  'worker_threads',
  'crypto',
  'url',
  'util',
  'zlib',
  'stream',
  'http',
  'net',
];
const nodeBuiltins = { group: ['node:*'], message: 'pure layer: no Node built-ins (DESIGN.md §2)' };
/**
 * Vue single-file components: only their <script> blocks are linted (so the layering rules reach them). Everything
 * outside the blocks is blanked to spaces, keeping lines and columns true, then typescript-eslint parses the rest.
 */
const vueScriptParser = {
  meta: { name: 'vue-script-blocks' },
  parseForESLint(code, options) {
    const keep = new Array(code.length).fill(false);
    for (const m of code.matchAll(/(<script\b[^>]*>)([\s\S]*?)<\/script>/g)) {
      const start = m.index + m[1].length;
      for (let i = start; i < start + m[2].length; i++) keep[i] = true;
    }
    const blanked = [...code].map((c, i) => (keep[i] || c === '\n' ? c : ' ')).join('');
    return tseslint.parser.parseForESLint(blanked, { ...options, ecmaVersion: 'latest', sourceType: 'module' });
  },
};
const protobuf = {
  group: ['onnx-proto', 'protobufjs', 'protobufjs/*'],
  message: 'only src-main/core/onnx may import the protobuf schema',
};

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'out/**', 'test/corpus/**/*.py', '**/*.d.ts'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    files: ['src-shared/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: runtimeModules.map((name) => ({ name, message: 'src-shared is pure TypeScript (DESIGN.md §2)' })),
          patterns: [
            nodeBuiltins,
            protobuf,
            {
              group: ['**/src-main/**', '**/src-renderer/**'],
              message: 'src-shared imports nothing of the other layers',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src-main/core/**/*.ts'],
    ignores: ['src-main/core/onnx/**', 'src-main/core/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: runtimeModules.map((name) => ({ name, message: 'src-main/core is pure TypeScript (DESIGN.md §2)' })),
          patterns: [
            nodeBuiltins,
            protobuf,
            { group: ['**/node/**', '**/electron/**', '**/src-renderer/**'], message: 'core imports no outer layer' },
          ],
        },
      ],
    },
  },
  {
    files: ['src-main/core/onnx/**/*.ts'],
    ignores: ['src-main/core/onnx/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: runtimeModules.map((name) => ({ name, message: 'the serde is pure TypeScript' })),
          patterns: [
            nodeBuiltins,
            { group: ['**/node/**', '**/electron/**', '**/compress/**'], message: 'serde imports only the IR' },
          ],
        },
      ],
    },
  },
  {
    files: ['src-main/core/ir/**/*.ts'],
    ignores: ['src-main/core/ir/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: runtimeModules.map((name) => ({ name, message: 'the IR is pure TypeScript' })),
          patterns: [
            nodeBuiltins,
            protobuf,
            {
              group: ['**/compress/**', '**/passes/**', '**/autodiff/**', '**/onnx/**', '**/node/**'],
              message: 'the IR knows nothing of the layers above it',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src-main/node/**/*.ts', 'src-main/electron/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [protobuf, { group: ['**/src-renderer/**'], message: 'main never imports the renderer' }] },
      ],
    },
  },
  {
    // the command line sits on top of the node layer: nothing below it (jobs, host, train, …) reaches up into it
    files: ['src-main/node/**/*.ts'],
    ignores: ['src-main/node/cli/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            protobuf,
            { group: ['**/src-renderer/**'], message: 'main never imports the renderer' },
            { group: ['**/cli/*', '**/cli/**'], message: 'only the command line imports node/cli (DESIGN.md §2)' },
          ],
        },
      ],
    },
  },
  {
    // IR edits go through Graph methods (addOutput, setOutput, replaceOutput, setOutputs, moveNodeAfter, addNode,
    // removeNode) so producer / uses / scope invariants hold by construction: no splicing of those arrays outside the IR
    files: ['src-main/**/*.ts'],
    ignores: ['src-main/core/ir/**', 'src-main/**/*.test.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector:
            "CallExpression[callee.property.name=/^(push|splice|unshift|pop|shift|sort|reverse|fill|copyWithin)$/][callee.object.property.name='outputs']",
          message: 'edit graph outputs through Graph methods (addOutput, setOutput, replaceOutput, setOutputs)',
        },
        {
          selector:
            "CallExpression[callee.property.name=/^(splice|unshift|pop|shift|sort|reverse|fill|copyWithin)$/][callee.object.property.name='nodes']",
          message: 'edit graph nodes through Graph methods (addNode, removeNode, moveNodeAfter, sortTopologically)',
        },
        {
          selector: 'AssignmentExpression[left.computed=true][left.object.property.name=/^(outputs|nodes|inputs)$/]',
          message: 'edit graphs and nodes through IR methods (setOutput, setInput, …), not by index assignment',
        },
      ],
    },
  },
  {
    // Names used only by the template look unused to a script-only parse; vue-tsc (noUnusedLocals) checks them.
    files: ['src-renderer/**/*.vue'],
    languageOptions: { parser: vueScriptParser },
    rules: { '@typescript-eslint/no-unused-vars': 'off' },
  },
  {
    files: ['src-renderer/**/*.ts', 'src-renderer/**/*.vue'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ['electron', 'onnxruntime-node', 'better-sqlite3', 'fs', 'path', 'os', 'child_process'].map(
            (name) => ({ name, message: 'the renderer imports only src-shared and browser libraries' }),
          ),
          patterns: [
            nodeBuiltins,
            protobuf,
            { group: ['**/src-main/**'], message: 'the renderer imports only src-shared' },
          ],
        },
      ],
    },
  },
);
