import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { loadConfig, projectRoot, type Config } from '../config/index.js';
import { stackDirs } from '../stack/stack.js';
import { ensureKubernetesTools, toolPaths, versions, type KubernetesTools } from '../stack/tools.js';
import { orderSearchAttributes } from '../workflows/search-attributes.js';
import { testConfig, uniqueName } from './support/env.js';

const exec = promisify(execFile);

interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  ports?: { name?: string; containerPort: number }[];
  env?: unknown[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  startupProbe?: Probe;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  lifecycle?: { preStop?: { sleep?: { seconds: number } } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: { allowPrivilegeEscalation?: boolean; readOnlyRootFilesystem?: boolean; capabilities?: { drop?: string[] } };
}
interface Probe {
  httpGet?: { path: string; port: string | number };
  tcpSocket?: { port: string | number };
  timeoutSeconds?: number;
}
interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  terminationGracePeriodSeconds?: number;
  automountServiceAccountToken?: boolean;
  securityContext?: { runAsNonRoot?: boolean; seccompProfile?: { type: string } };
}
interface Resource {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  data?: Record<string, string>;
  spec?: {
    selector?: { matchLabels?: Record<string, string> } & Record<string, string>;
    scaleTargetRef?: { kind: string; name: string };
    template?: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec };
    ports?: { targetPort: string | number }[];
  };
}

const builds = { base: 'deploy/kubernetes/base', production: 'deploy/kubernetes/overlays/production' };
type Build = keyof typeof builds;

/** The compose service that runs the same process as each Deployment (docker-compose.yml). */
const processes = { 'order-api': 'api', 'order-worker': 'worker', 'outbox-relay': 'relay', 'event-subscribers': 'subscribers' };

const compose = parse(fs.readFileSync(path.join(projectRoot, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, { command?: string[] }>;
};

// What the Secret order-saga-secrets holds in a real cluster; stand-ins here, never in the manifests.
const secretKeys = ['TEMPORAL_API_KEY', 'TEMPORAL_TLS_CLIENT_KEY_DATA', 'DATABASE_URL', 'JWT_SECRET', 'JWT_JWKS_URL', 'PAYMENT_WEBHOOK_SECRET', 'SMTP_URL', 'POSTGRES_PASSWORD'];
const secretStandIns = {
  DATABASE_URL: 'postgresql://order_saga:stand-in@db.example.com:5432/order_saga',
  JWT_SECRET: 'a-stand-in-secret-of-at-least-32-chars',
  PAYMENT_WEBHOOK_SECRET: 'whsec_a_stand_in_secret',
};

let tools: KubernetesTools;
const rendered = {} as Record<Build, { yaml: string; resources: Resource[] }>;

beforeAll(async () => {
  const config = loadConfig();
  // Built and converted once per machine into the stack's cache (about a minute and a half the first time).
  tools = await ensureKubernetesTools(config.stack.cacheDir, stackDirs(config).logDir, (line) => console.log(`stack: ${line}`));
  for (const [build, dir] of Object.entries(builds) as [Build, string][]) {
    const { stdout } = await exec(tools.kustomize, ['build', path.join(projectRoot, dir)]);
    rendered[build] = { yaml: stdout, resources: parseAllDocuments(stdout).map((doc) => doc.toJS() as Resource) };
  }
}, 600_000);

interface Validation {
  resources: { kind: string; name: string; status: string; msg: string }[];
  summary: { valid: number; invalid: number; errors: number; skipped: number };
}

/** kubeconform on some YAML, strict, against the cached schemas of the Kubernetes API. */
async function kubeconform(yaml: string): Promise<Validation> {
  const child = spawn(tools.kubeconform, ['-strict', '-summary', '-output', 'json', '-schema-location', tools.schemaLocation, '-']);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.end(yaml);
  // It exits 1 when a resource is invalid; the JSON it prints says which and why.
  await new Promise((resolve) => child.once('close', resolve));
  expect(stderr).toBe('');
  return JSON.parse(stdout) as Validation;
}

// JSON is YAML: kubeconform reads a resource written either way.
const asYaml = (resource: Resource) => JSON.stringify(resource);

function find(build: Build, kind: string, name: string): Resource {
  const resource = rendered[build].resources.find((r) => r.kind === kind && r.metadata.name === name);
  expect(resource, `${build}: ${kind} ${name}`).toBeDefined();
  return resource!;
}

const workloads = (build: Build) => rendered[build].resources.filter((r) => r.spec?.template);
const containersOf = (pod: PodSpec) => [...(pod.initContainers ?? []), ...pod.containers];

/** The configuration each process reads: the ConfigMap, plus the Secret's keys (stand-ins). */
function configOf(build: Build): { data: Record<string, string>; config: Config } {
  const configMap = rendered[build].resources.find((r) => r.kind === 'ConfigMap' && r.metadata.name.startsWith('order-saga-config'));
  expect(configMap, `${build}: the ConfigMap`).toBeDefined();
  const data = configMap!.data ?? {};
  return { data, config: loadConfig({ ...data, ...secretStandIns }) };
}

describe.each(Object.keys(builds) as Build[])('the Kubernetes manifests (%s)', (build) => {
  it(`are valid against the Kubernetes ${versions.kubernetes} API, strictly`, async () => {
    const { summary, resources } = await kubeconform(rendered[build].yaml);
    expect(resources.filter((r) => r.status !== 'statusValid')).toEqual([]);
    expect(summary).toEqual({ valid: rendered[build].resources.length, invalid: 0, errors: 0, skipped: 0 });
    expect(summary.valid).toBeGreaterThanOrEqual(6);
  });

  it('run the API, the worker, the relay and the subscribers, each started as its compose service is', () => {
    for (const [name, composeService] of Object.entries(processes)) {
      const pod = find(build, 'Deployment', name).spec!.template!.spec;
      expect(pod.containers).toHaveLength(1);
      expect(pod.containers[0]!.command, name).toEqual(compose.services[composeService]?.command);
      expect(pod.containers[0]!.image, name).toBe(find(build, 'Deployment', 'order-api').spec!.template!.spec.containers[0]!.image);
    }
  });

  it("give each process longer to stop than its shutdown takes (the worker's grace time included)", () => {
    const { config } = configOf(build);
    for (const name of Object.keys(processes)) {
      const pod = find(build, 'Deployment', name).spec!.template!.spec;
      const preStopMs = (pod.containers[0]!.lifecycle?.preStop?.sleep?.seconds ?? 0) * 1000;
      const closeMs = name === 'order-worker' ? config.worker.shutdownGraceSeconds * 1000 + config.shutdownDeadlineMs : config.shutdownDeadlineMs;
      // Kubernetes' default is 30 s.
      expect((pod.terminationGracePeriodSeconds ?? 30) * 1000, name).toBeGreaterThan(preStopMs + closeMs);
    }
  });

  it('probe the API: ready when GET /health answers, started and alive while its port answers', () => {
    const { config } = configOf(build);
    const api = find(build, 'Deployment', 'order-api').spec!.template!.spec.containers[0]!;
    expect(api.ports).toEqual([
      { name: 'http', containerPort: config.api.port },
      { name: 'metrics', containerPort: config.metrics.ports.api },
    ]);
    expect(api.readinessProbe?.httpGet).toEqual({ path: '/health', port: 'http' });
    // /health gives up on a dependency after API_DEPENDENCY_TIMEOUT_MS and answers 503 itself.
    expect((api.readinessProbe?.timeoutSeconds ?? 1) * 1000).toBeGreaterThan(config.api.dependencyTimeoutMs);
    // An outage of PostgreSQL, Kafka or Temporal must not restart every API pod: liveness is the port alone.
    expect(api.livenessProbe?.tcpSocket).toEqual({ port: 'http' });
    expect(api.startupProbe?.tcpSocket).toEqual({ port: 'http' });
    expect(find(build, 'Service', 'order-api').spec!.ports!.map((p) => p.targetPort)).toEqual(['http']);
  });

  it('serve each process’s /metrics where its pod’s Prometheus annotations say, on every interface', () => {
    const { config } = configOf(build);
    expect(config.metrics.host).toBe('0.0.0.0');
    const processes = { 'order-api': 'api', 'order-worker': 'worker', 'outbox-relay': 'relay', 'event-subscribers': 'subscribers' } as const;
    for (const [name, process] of Object.entries(processes)) {
      const template = find(build, 'Deployment', name).spec!.template!;
      const port = config.metrics.ports[process];
      expect(template.spec.containers[0]!.ports).toContainEqual({ name: 'metrics', containerPort: port });
      expect(template.metadata?.annotations).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(port), 'prometheus.io/path': '/metrics' });
    }
  });

  it('select only pods that exist (Services, disruption budgets, autoscalers)', () => {
    const pods = workloads(build).map((w) => ({ name: w.metadata.name, labels: w.spec!.template!.metadata?.labels ?? {} }));
    const matches = (selector: Record<string, string>) =>
      pods.filter((pod) => Object.entries(selector).every(([k, v]) => pod.labels[k] === v)).map((pod) => pod.name);
    for (const resource of rendered[build].resources) {
      if (resource.kind === 'Service') expect(matches(resource.spec!.selector as Record<string, string>), resource.metadata.name).toEqual([resource.metadata.name]);
      if (resource.kind === 'PodDisruptionBudget') expect(matches(resource.spec!.selector!.matchLabels!), resource.metadata.name).toEqual([resource.metadata.name]);
      if (resource.kind === 'HorizontalPodAutoscaler') find(build, resource.spec!.scaleTargetRef!.kind, resource.spec!.scaleTargetRef!.name);
    }
  });

  it('give every container resource requests and a memory limit', () => {
    for (const workload of workloads(build)) {
      for (const container of containersOf(workload.spec!.template!.spec)) {
        const where = `${workload.metadata.name}/${container.name}`;
        expect(container.resources?.requests, where).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
        expect(container.resources?.limits?.memory, where).toEqual(expect.any(String));
      }
    }
  });

  it("take every setting from the config module's variables, and the secrets only from the Secret", () => {
    const { data, config } = configOf(build);
    const known = new Set([...fs.readFileSync(path.join(projectRoot, 'config', 'index.ts'), 'utf8').matchAll(/^ {4}([A-Z][A-Z0-9_]+): /gm)].map((m) => m[1]));
    expect(known).toContain('TEMPORAL_ADDRESS');
    for (const key of Object.keys(data)) expect(known, `${key} is a setting of config/index.ts`).toContain(key);
    for (const key of secretKeys) expect(data, `${key} belongs in the Secret`).not.toHaveProperty(key);
    expect(config.env).toBe('production');
    // Without the Secret, production refuses to start on the development secrets.
    expect(() => loadConfig(data)).toThrow(/JWT_SECRET/);

    const configMapName = rendered[build].resources.find((r) => r.kind === 'ConfigMap')!.metadata.name;
    for (const workload of workloads(build)) {
      for (const container of containersOf(workload.spec!.template!.spec)) {
        const where = `${workload.metadata.name}/${container.name}`;
        expect(container.env, where).toBeUndefined();
        const sources = container.envFrom ?? [];
        expect(sources[0], where).toEqual({ configMapRef: { name: configMapName } });
        if (workload.kind === 'Deployment') expect(sources[1], where).toEqual({ secretRef: { name: 'order-saga-secrets' } });
      }
    }
  });

  it("point at the existing clusters, never at the pod's own loopback (the local defaults)", () => {
    const { config } = configOf(build);
    const hosts = {
      temporal: config.temporal.address.replace(/:\d+$/, ''),
      payments: new URL(config.paymentProvider.url).hostname,
      collector: new URL(config.telemetry.otlpTracesUrl).hostname,
      ...Object.fromEntries(config.kafka.brokers.map((broker, i) => [`kafka broker ${i}`, broker.split(':')[0]])),
    };
    for (const [what, host] of Object.entries(hosts)) expect(['127.0.0.1', 'localhost', '0.0.0.0', '::1'], what).not.toContain(host);
    expect(config.kafka.replicationFactor).toBe(3);
  });

  it('run every pod under the restricted Pod Security Standard, with no API token', () => {
    for (const workload of workloads(build)) {
      const pod = workload.spec!.template!.spec;
      expect(pod.securityContext, workload.metadata.name).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
      expect(pod.automountServiceAccountToken, workload.metadata.name).toBe(false);
      for (const container of containersOf(pod)) {
        expect(container.securityContext, `${workload.metadata.name}/${container.name}`).toEqual({
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'] },
        });
      }
    }
  });
});

describe('the production overlay', () => {
  it('lives in its own namespace, which enforces the restricted Pod Security Standard', () => {
    const namespace = find('production', 'Namespace', 'order-saga');
    expect(namespace.metadata.labels).toMatchObject({ 'pod-security.kubernetes.io/enforce': 'restricted' });
    for (const r of rendered.production.resources.filter((r) => r.kind !== 'Namespace')) expect(r.metadata.namespace, r.metadata.name).toBe('order-saga');
  });

  it('pins the application image, and lets the autoscaler own the API replica count', () => {
    for (const name of Object.keys(processes)) {
      expect(find('production', 'Deployment', name).spec!.template!.spec.containers[0]!.image).toMatch(/^[\w.-]+\/[\w./-]+:\d[\w.-]*$/);
    }
    expect(find('production', 'Deployment', 'order-api').spec).not.toHaveProperty('replicas');
  });
});

describe('kubeconform', () => {
  it('rejects a Deployment with a misspelt field, and one with a field of the wrong type', async () => {
    const worker = find('production', 'Deployment', 'order-worker');
    const misspelt = structuredClone(worker) as Resource & { spec: { template: { spec: Record<string, unknown> } } };
    misspelt.spec.template.spec.terminationGracePeriod = 60;
    const wrongType = structuredClone(worker) as Resource & { spec: Record<string, unknown> };
    wrongType.spec.replicas = 'three';

    for (const [broken, field] of [[misspelt, 'terminationGracePeriod'], [wrongType, 'replicas']] as const) {
      const { summary, resources } = await kubeconform(asYaml(broken));
      expect(summary).toMatchObject({ valid: 0, invalid: 1 });
      expect(resources[0]?.msg).toContain(field);
    }
  });
});

describe('the job that registers the search attributes', () => {
  it('registers every attribute the workflows use in a Temporal namespace, and can run again', async () => {
    const job = find('production', 'Job', 'temporal-search-attributes').spec!.template!.spec.containers[0]!;
    const script = job.args![0]!;
    for (const key of orderSearchAttributes) {
      const type = key.type.charAt(0) + key.type.slice(1).toLowerCase();
      expect(script.replace(/\s*\\\n\s*/g, ' ')).toContain(`--name ${key.name} --type ${type}`);
    }

    // The script as the job runs it, with the Temporal CLI it uses, against the real server.
    const config = testConfig();
    const temporal = toolPaths(config.stack.cacheDir).temporal;
    const address = config.temporal.address;
    const namespace = uniqueName('k8s-job');
    await exec(temporal, ['operator', 'namespace', 'create', '--namespace', namespace, '--address', address]);
    const env = {
      PATH: `${path.dirname(temporal)}:${process.env.PATH}`,
      // The image's user has a home (with no CLI config in it); so does this run.
      HOME: fs.mkdtempSync(path.join(os.tmpdir(), 'temporal-job-')),
      TEMPORAL_ADDRESS: address,
      TEMPORAL_NAMESPACE: namespace,
    };
    const runJob = () => exec(job.command![0]!, [...job.command!.slice(1), script], { env });
    try {
      // A new namespace takes a moment to reach the frontend's cache; the job's pod restarts until then.
      await expect.poll(() => runJob().then(() => 'done', (e: Error) => e.message), { timeout: 30_000, interval: 1_000 }).toBe('done');
      await expect(runJob(), 'a second run, as after a re-apply').resolves.toBeDefined();
      const { stdout } = await exec(temporal, ['operator', 'search-attribute', 'list', '--namespace', namespace, '--address', address, '-o', 'json']);
      const { customAttributes } = JSON.parse(stdout) as { customAttributes: Record<string, string> };
      for (const key of orderSearchAttributes) expect(customAttributes[key.name], key.name).toBe(`INDEXED_VALUE_TYPE_${key.type}`);
    } finally {
      await exec(temporal, ['operator', 'namespace', 'delete', '--namespace', namespace, '--address', address, '--yes']).catch(() => undefined);
    }
  });
});
