/**
 * The layers of the codebase, checked by `npm run lint:deps` and by test/layers.test.ts (so CI
 * fails on a violation). Lower layers never import higher ones:
 *
 *   config, runtime, telemetry, db, domain  <  read-models, activities, workflows
 *   <  api, events, workers  <  scripts, stack, test
 *
 * Workflow code is replayed in Temporal's sandbox: it imports only @temporalio/workflow, its own
 * folder, and types. Test helpers live under test/ and only tests import them.
 */
const product = '^(activities|api|config|db|domain|events|fake-payment-provider|prisma|read-models|runtime|scripts|stack|telemetry|workers|workflows)/';
const test = '(^test/|\\.test\\.ts$)';

module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      severity: 'error',
      comment: 'A cycle ties modules so that neither can be read, tested or moved alone.',
      from: { path: product },
      to: { circular: true },
    },
    {
      name: 'domain-is-the-bottom',
      severity: 'error',
      comment: 'The domain is what everything else calls; it calls none of them.',
      from: { path: '^domain/', pathNot: test },
      to: { path: '^(activities|api|events|fake-payment-provider|read-models|scripts|stack|workers|workflows)/' },
    },
    {
      name: 'foundations-import-no-application',
      severity: 'error',
      comment: 'Config, the process runtime, telemetry and the database client sit below every role.',
      from: { path: '^(config|runtime|telemetry|db)/', pathNot: test },
      to: { path: '^(activities|api|domain|events|fake-payment-provider|read-models|scripts|stack|workers|workflows)/' },
    },
    {
      name: 'workflows-are-deterministic',
      severity: 'error',
      comment: 'Workflow code imports @temporalio/workflow, its own folder, and types only (activities by type).',
      from: { path: '^workflows/', pathNot: '\\.test\\.ts$' },
      to: {
        pathNot: ['^workflows/', '^node_modules/@temporalio/workflow/', '^node_modules/@temporalio/interceptors-opentelemetry/lib/workflow/'],
        dependencyTypesNot: ['type-only'],
      },
    },
    {
      name: 'roles-do-not-reach-sideways',
      severity: 'error',
      comment: 'The API, the Kafka machinery and the worker each use the layers below, never each other.',
      from: { path: '^(api|events|workers|activities|read-models)/', pathNot: test },
      to: { path: '^(api|events|workers)/', pathNot: '^$1/' },
    },
    {
      name: 'test-code-stays-in-test',
      severity: 'error',
      comment: 'Test helpers and fixtures live under test/; product code never imports them (the image ships no tests).',
      from: { path: product, pathNot: test },
      to: { path: test },
    },
    {
      name: 'the-fake-provider-is-outside',
      severity: 'error',
      comment: 'The fake payment provider stands in for another company: only tests and its own process use it.',
      from: { path: product, pathNot: ['^fake-payment-provider/', test] },
      to: { path: '^fake-payment-provider/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|generated|dist|\\.stack(-chaos)?)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
};
