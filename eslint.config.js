// ESLint: typescript-eslint's type-checked rules, plus the house rules of ARCHITECTURE.md that a linter can hold.
import fs from 'node:fs';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// The layering of ARCHITECTURE.md §3, as `no-restricted-imports` options. Flat config gives a file the options of
// the last block that sets a rule, not their union, so each kind of file gets one block with every restriction it
// is under: the most specific blocks come last.

/** Kysely, and the database handle, only in repositories and src/platform/db: services hold repositories. */
const noDatabase = {
  paths: [{ name: 'kysely', message: 'Kysely belongs in *.repository.ts files and src/platform/db/.' }],
  patterns: [
    { regex: '^kysely/', message: 'Kysely belongs in *.repository.ts files and src/platform/db/.' },
    {
      regex: '(^|/)db/transactions(\\.js)?$',
      importNames: ['DbExecutor'],
      message: 'Services receive repositories and a Transact, not the database (a Tx inside a transaction).',
    },
  ],
};

/** Services never see HTTP. */
const noFastify = {
  paths: ['fastify', 'fastify-plugin'].map((name) => ({
    name,
    message: 'Services never import Fastify: routes and plugins speak HTTP, services throw AppErrors.',
  })),
  patterns: [
    {
      group: ['@fastify/*'],
      message: 'Services never import Fastify: routes and plugins speak HTTP, services throw AppErrors.',
    },
  ],
};

const MODULES = fs
  .readdirSync(`${import.meta.dirname}/src/modules`, { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name);

/**
 * From inside module `own`, another module only through its index.js. Matched on the import as written: `../b/x.js`
 * (or `../../b/x.js` from a subfolder, or a path through `modules/`) where b is another module's folder name.
 */
function onlyIndexOfOtherModules(own) {
  const others = MODULES.filter((name) => name !== own);
  if (others.length === 0) return { paths: [], patterns: [] };
  return {
    paths: [],
    patterns: [
      {
        regex: `^(\\.\\./)+(modules/)?(${others.join('|')})/(?!index\\.js$)`,
        message: 'Another module is reached only through its index.js (what it exports for other modules).',
      },
    ],
  };
}

function restrict(...parts) {
  return {
    'no-restricted-imports': [
      'error',
      { paths: parts.flatMap((p) => p.paths), patterns: parts.flatMap((p) => p.patterns) },
    ],
  };
}

function layerBoundaries() {
  const repositories = ['src/**/*.repository.ts', 'src/platform/db/**'];
  return [
    { files: ['src/**/*.ts'], ignores: repositories, rules: restrict(noDatabase) },
    { files: ['src/**/*.service.ts'], rules: restrict(noDatabase, noFastify) },
    ...MODULES.flatMap((name) => {
      const inModule = onlyIndexOfOtherModules(name);
      return [
        { files: [`src/modules/${name}/**/*.ts`], rules: restrict(noDatabase, inModule) },
        { files: [`src/modules/${name}/**/*.repository.ts`], rules: restrict(inModule) },
        { files: [`src/modules/${name}/**/*.service.ts`], rules: restrict(noDatabase, noFastify, inModule) },
      ];
    }),
  ];
}

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'data/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['eslint.config.js'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-non-null-assertion': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
      // Fastify plugins are async functions by contract, with or without an await inside.
      '@typescript-eslint/require-await': 'off',
    },
  },
  ...layerBoundaries(),
  {
    files: ['src/cli/**/*.ts', 'bench/**/*.ts', 'test/**/*.ts'],
    rules: { 'no-console': 'off' },
  },
  { files: ['eslint.config.js'], ...tseslint.configs.disableTypeChecked },
);
