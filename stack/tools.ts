import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { projectRoot } from '../config/index.js';
import { run, StackError, which } from './processes.js';
import { phase, type Say } from './progress.js';

/** Versions of what the stack downloads or builds; each lives in its own folder of the tool cache. */
export const versions = {
  temporalCli: '1.5.1',
  kafka: '3.9.2',
  temporalTestServer: '1.38.0',
  /** The production server the CLI's dev server embeds (TEMPORAL_SERVER=server). */
  temporalServer: '1.29.1',
  schemathesis: '4.32.5',
  kustomize: '5.8.2',
  kubeconform: '0.8.0',
  /** The trace viewer the stack runs with --traces (Zipkin's server, UI included; memory storage). */
  zipkin: '3.5.1',
  /** The Kubernetes API the manifests in deploy/ are validated against: the oldest minor release still supported. */
  kubernetes: '1.35.4',
} as const;

export interface ToolPaths {
  temporal: string;
  kafkaLib: string;
  /** An executable that starts the time-skipping test server: `<path> <port>`, as @temporalio/testing expects. */
  testServer: string;
  /** Schemathesis's `st` (installed by `ensureSchemathesis` for the tests, not by `up`). */
  schemathesis: string;
  postgresBin: string;
  /** The production Temporal server, its SQL schema tool and its schema files; built only when TEMPORAL_SERVER=server. */
  temporalServer?: { server: string; sqlTool: string; schemaDir: string };
  /** Zipkin's executable jar; downloaded only when the stack runs it (--traces). */
  zipkin: string;
}

export function toolPaths(cacheDir: string): Omit<ToolPaths, 'postgresBin'> {
  return {
    temporal: path.join(cacheDir, `temporal-cli-${versions.temporalCli}`, 'temporal'),
    kafkaLib: path.join(cacheDir, `kafka-${versions.kafka}`, 'lib'),
    testServer: path.join(cacheDir, `temporal-test-server-${versions.temporalTestServer}`, 'temporal-test-server'),
    schemathesis: path.join(cacheDir, `schemathesis-${versions.schemathesis}`, 'bin', 'st'),
    zipkin: path.join(cacheDir, `zipkin-server-${versions.zipkin}`, `zipkin-server-${versions.zipkin}-exec.jar`),
  };
}

/**
 * The SDK starts the test server as `<path> <port>` and kills it with SIGKILL, so the wrapper must
 * exec the JVM (no shell left behind), and the JVM must start well within the SDK's ~5 s wait.
 */
function writeTestServerWrapper(wrapper: string, java: string): void {
  const lib = path.join(path.dirname(wrapper), 'lib');
  fs.writeFileSync(
    wrapper,
    [
      '#!/bin/sh',
      '# Written by the order-saga stack: the Temporal time-skipping test server, for @temporalio/testing.',
      `exec "${java}" -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto -Xss512k -cp "${lib}/*" io.temporal.testserver.TestServer "$@"`,
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
}

function require(program: string, why: string): string {
  const found = which(program);
  if (!found) throw new StackError(`missing prerequisite: ${program} (${why}); install it and run again`);
  return found;
}

/** A folder counts as installed only once its stamp is written, so an interrupted download is redone. */
async function once(dir: string, install: () => Promise<void>): Promise<boolean> {
  const stamp = path.join(dir, '.installed');
  if (fs.existsSync(stamp)) return false;
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  await install();
  fs.writeFileSync(stamp, new Date().toISOString());
  return true;
}

/** Builds a Go program from the Go module proxy into the folder of `binary` (pure Go, no C toolchain). */
async function goInstall(what: string, pkg: string, binary: string, logFile: string, say: Say): Promise<void> {
  await once(path.dirname(binary), async () => {
    const go = require('go', `builds ${what}`);
    const env = { ...process.env, CGO_ENABLED: '0', GOBIN: path.dirname(binary), GOFLAGS: '-buildvcs=false' };
    await phase(say, `building ${what} with go install (once)`, () => run(go, ['install', pkg], { logFile, env }), { logFile });
  });
}

/**
 * The production Temporal server and its SQL tool, built from the server's module (no replace
 * directives) with its schema files copied beside them. Minutes and about 1.6 GB of memory, once.
 */
async function temporalServer(cacheDir: string, logFile: string, say: Say): Promise<NonNullable<ToolPaths['temporalServer']>> {
  const dir = path.join(cacheDir, `temporal-server-${versions.temporalServer}`);
  const paths = { server: path.join(dir, 'server'), sqlTool: path.join(dir, 'temporal-sql-tool'), schemaDir: path.join(dir, 'schema') };
  await once(dir, async () => {
    const go = require('go', 'builds the Temporal server');
    const module = `go.temporal.io/server@v${versions.temporalServer}`;
    const env = { ...process.env, CGO_ENABLED: '0', GOBIN: dir, GOFLAGS: '-buildvcs=false' };
    const packages = [`go.temporal.io/server/cmd/server@v${versions.temporalServer}`, `go.temporal.io/server/cmd/tools/sql@v${versions.temporalServer}`];
    await phase(
      say,
      `building the Temporal server ${versions.temporalServer} and its SQL tool with go install (a few minutes, once)`,
      () => run(go, ['install', ...packages], { logFile, env }),
      { logFile },
    );
    fs.renameSync(path.join(dir, 'sql'), paths.sqlTool);
    const modCache = execFileSync(go, ['env', 'GOMODCACHE'], { env, encoding: 'utf8' }).trim();
    fs.cpSync(path.join(modCache, module, 'schema', 'postgresql', 'v12'), paths.schemaDir, { recursive: true });
  });
  return paths;
}

/** Zipkin's server, one executable jar with its UI, from Maven Central. */
async function zipkin(jar: string, logFile: string, say: Say): Promise<void> {
  require('java', 'runs Zipkin, the trace viewer');
  await once(path.dirname(jar), async () => {
    const mvn = require('mvn', 'downloads Zipkin from Maven Central');
    const args = ['-B', 'dependency:copy', `-Dartifact=io.zipkin:zipkin-server:${versions.zipkin}:jar:exec`, `-DoutputDirectory=${path.dirname(jar)}`];
    await phase(say, `downloading Zipkin ${versions.zipkin} from Maven Central (about 130 MB, once)`, () => run(mvn, args, { logFile }), { logFile });
  });
}

async function temporalCli(cacheDir: string, logFile: string, say: Say): Promise<void> {
  const what = `the Temporal CLI ${versions.temporalCli} dev server`;
  await goInstall(what, `github.com/temporalio/cli/cmd/temporal@v${versions.temporalCli}`, toolPaths(cacheDir).temporal, logFile, say);
}

/** Copies a small pom's dependencies from Maven Central into `<dir>/lib`. */
async function mavenClasspath(pom: string, dir: string, what: string, logFile: string, say: Say): Promise<string> {
  const java = require('java', `runs ${what}`);
  await once(dir, async () => {
    const mvn = require('mvn', `downloads ${what} from Maven Central`);
    const args = ['-B', '-f', pom, 'dependency:copy-dependencies', `-DoutputDirectory=${path.join(dir, 'lib')}`];
    await phase(say, `downloading ${what} from Maven Central (once)`, () => run(mvn, args, { logFile }), { logFile });
  });
  return java;
}

/**
 * Schemathesis from PyPI, with everything it needs pinned (`stack/schemathesis/requirements.txt`),
 * in a virtualenv of its own (the system's Python stays as it is), for the test that checks the API
 * against its OpenAPI document; returns its `st`.
 */
export async function ensureSchemathesis(cacheDir: string, logDir: string, say: Say): Promise<string> {
  const st = toolPaths(cacheDir).schemathesis;
  const venv = path.dirname(path.dirname(st));
  const logFile = path.join(logDir, 'install.log');
  await once(venv, async () => {
    const python = require('python3', 'runs schemathesis, which checks the API against its OpenAPI document');
    const requirements = path.join(projectRoot, 'stack', 'schemathesis', 'requirements.txt');
    await phase(say, `installing schemathesis ${versions.schemathesis} from PyPI into a virtualenv (once)`, async () => {
      await run(python, ['-m', 'venv', venv], { logFile });
      await run(path.join(venv, 'bin', 'pip'), ['install', '--disable-pip-version-check', '-r', requirements], { logFile });
    }, { logFile });
  });
  return st;
}

function postgresBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!fs.existsSync(root)) return undefined;
  const majors = fs
    .readdirSync(root)
    .filter((v) => fs.existsSync(path.join(root, v, 'bin', 'postgres')))
    .sort((a, b) => Number(b) - Number(a));
  return majors[0] ? path.join(root, majors[0], 'bin') : undefined;
}

/** Debian's PostgreSQL server; installed with apt-get when this runs as root and it is missing. */
async function postgres(logFile: string, say: Say): Promise<string> {
  const existing = postgresBinDir();
  if (existing) return existing;
  await aptInstall('postgresql', logFile, say);
  const installed = postgresBinDir();
  if (!installed) throw new StackError(`apt-get installed postgresql but no server binary was found; see ${logFile}`);
  return installed;
}

/** Debian's Chromium, for the tests that look at the Temporal Web UI; installed with apt-get when missing. */
export async function ensureChromium(logDir: string, say: Say): Promise<string> {
  const binary = '/usr/bin/chromium';
  if (fs.existsSync(binary)) return binary;
  await aptInstall('chromium', path.join(logDir, 'install.log'), say);
  if (!fs.existsSync(binary)) throw new StackError(`apt-get installed chromium but ${binary} is missing`);
  return binary;
}

async function aptInstall(pkg: string, logFile: string, say: Say): Promise<void> {
  if (os.userInfo().uid !== 0 || !which('apt-get')) {
    throw new StackError(`missing prerequisite: Debian package ${pkg}; install it and run again`);
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await phase(say, `installing ${pkg} from Debian's packages (once)`, async () => {
    await run('apt-get', ['update', '-q'], { logFile, env });
    await run('apt-get', ['install', '-y', '-q', pkg], { logFile, env });
  }, { logFile });
}

/** Installs whatever is missing into the cache (and PostgreSQL into the system) and returns where it all is. */
export async function ensureTools(
  cacheDir: string,
  logDir: string,
  say: Say,
  options: { temporalServer?: boolean; zipkin?: boolean } = {},
): Promise<ToolPaths> {
  const paths = toolPaths(cacheDir);
  const logFile = path.join(logDir, 'install.log');
  // One after the other: the Go build and Maven would fight over two cores and a log file.
  await temporalCli(cacheDir, logFile, say);
  const pom = (name: string) => path.join(projectRoot, 'stack', 'maven', name, 'pom.xml');
  await mavenClasspath(pom('kafka'), path.dirname(paths.kafkaLib), `Apache Kafka ${versions.kafka}`, logFile, say);
  const java = await mavenClasspath(
    pom('temporal-test-server'),
    path.dirname(paths.testServer),
    `the Temporal test server ${versions.temporalTestServer}`,
    logFile,
    say,
  );
  writeTestServerWrapper(paths.testServer, java);
  const server = options.temporalServer ? await temporalServer(cacheDir, logFile, say) : undefined;
  if (options.zipkin) await zipkin(paths.zipkin, logFile, say);
  return { ...paths, postgresBin: await postgres(logFile, say), temporalServer: server };
}

export interface KubernetesTools {
  kustomize: string;
  kubeconform: string;
  /** kubeconform's `-schema-location`: the Kubernetes API's JSON schemas, strict, in the cache. */
  schemaLocation: string;
}

export function kubernetesToolPaths(cacheDir: string): KubernetesTools {
  const schemas = path.join(cacheDir, `kubernetes-schemas-${versions.kubernetes}`);
  return {
    kustomize: path.join(cacheDir, `kustomize-${versions.kustomize}`, 'kustomize'),
    kubeconform: path.join(cacheDir, `kubeconform-${versions.kubeconform}`, 'kubeconform'),
    schemaLocation: path.join(schemas, '{{ .ResourceKind }}{{ .KindSuffix }}.json'),
  };
}

/**
 * kustomize and kubeconform, built with go install, and the JSON schemas kubeconform validates
 * against. Its default schemas live on a host these machines cannot reach, so they are made here
 * from the OpenAPI v3 documents that ship in the k8s.io/kubernetes module (Go module proxy).
 */
export async function ensureKubernetesTools(cacheDir: string, logDir: string, say: Say): Promise<KubernetesTools> {
  const paths = kubernetesToolPaths(cacheDir);
  const logFile = path.join(logDir, 'install.log');
  await goInstall(`kustomize ${versions.kustomize}`, `sigs.k8s.io/kustomize/kustomize/v5@v${versions.kustomize}`, paths.kustomize, logFile, say);
  await goInstall(`kubeconform ${versions.kubeconform}`, `github.com/yannh/kubeconform/cmd/kubeconform@v${versions.kubeconform}`, paths.kubeconform, logFile, say);
  await once(path.dirname(paths.schemaLocation), async () => {
    const go = require('go', 'downloads the Kubernetes API description from the Go module proxy');
    say(`writing the Kubernetes ${versions.kubernetes} API schemas for kubeconform (once)`);
    const { stdout } = await promisify(execFile)(go, ['mod', 'download', '-json', `k8s.io/kubernetes@v${versions.kubernetes}`], {
      cwd: path.dirname(paths.schemaLocation),
      maxBuffer: 1024 * 1024,
    }).catch((error: { stdout?: string; message: string }) => {
      throw new StackError(`go mod download k8s.io/kubernetes@v${versions.kubernetes} failed: ${error.stdout || error.message}`);
    });
    const moduleDir = (JSON.parse(stdout) as { Dir: string }).Dir;
    writeKubeconformSchemas(path.join(moduleDir, 'api', 'openapi-spec', 'v3'), path.dirname(paths.schemaLocation));
  });
  return paths;
}

type Schema = { [keyword: string]: unknown };

/**
 * kubeconform's layout, as its strict default schemas have it: `_definitions.json` with every type
 * of the API, and one `<kind>[-<group>]-<version>.json` per kind that refers to its type. Strict: an
 * object schema that lists its properties allows no others, so a misspelt or misplaced field fails.
 */
function writeKubeconformSchemas(openApiDir: string, outDir: string): void {
  const definitions: Record<string, Schema> = {};
  for (const file of fs.readdirSync(openApiDir).filter((f) => f.endsWith('.json'))) {
    const text = fs.readFileSync(path.join(openApiDir, file), 'utf8').replaceAll('"#/components/schemas/', '"#/definitions/');
    Object.assign(definitions, (JSON.parse(text) as { components?: { schemas?: Record<string, Schema> } }).components?.schemas);
  }
  for (const schema of Object.values(definitions)) closeObjects(schema);
  fs.writeFileSync(path.join(outDir, '_definitions.json'), JSON.stringify({ definitions }));
  for (const [name, schema] of Object.entries(definitions)) {
    const kinds = (schema['x-kubernetes-group-version-kind'] ?? []) as { group: string; version: string; kind: string }[];
    for (const { group, version, kind } of kinds) {
      const suffix = group ? `-${group.split('.')[0]}-${version}` : `-${version}`;
      const file = path.join(outDir, `${kind.toLowerCase()}${suffix}.json`);
      fs.writeFileSync(file, JSON.stringify({ $ref: `_definitions.json#/definitions/${name}` }));
    }
  }
}

/** Walks a schema by its keywords (never into a map of property names) and closes each listed object. */
function closeObjects(schema: Schema): void {
  const properties = schema.properties as Record<string, Schema> | undefined;
  if (properties) {
    schema.additionalProperties ??= false;
    Object.values(properties).forEach(closeObjects);
  }
  for (const keyword of ['items', 'additionalProperties', 'not']) {
    const sub = schema[keyword];
    if (sub && typeof sub === 'object') closeObjects(sub as Schema);
  }
  for (const keyword of ['allOf', 'anyOf', 'oneOf']) {
    (schema[keyword] as Schema[] | undefined)?.forEach(closeObjects);
  }
}
