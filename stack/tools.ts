import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from '../config/index.js';
import { run, StackError, which } from './processes.js';

/** Versions of what the stack downloads or builds; each lives in its own folder of the tool cache. */
export const versions = {
  temporalCli: '1.5.1',
  kafka: '3.9.2',
  temporalTestServer: '1.38.0',
} as const;

export interface ToolPaths {
  temporal: string;
  kafkaLib: string;
  testServerLib: string;
  postgresBin: string;
}

export function toolPaths(cacheDir: string): Omit<ToolPaths, 'postgresBin'> {
  return {
    temporal: path.join(cacheDir, `temporal-cli-${versions.temporalCli}`, 'temporal'),
    kafkaLib: path.join(cacheDir, `kafka-${versions.kafka}`, 'lib'),
    testServerLib: path.join(cacheDir, `temporal-test-server-${versions.temporalTestServer}`, 'lib'),
  };
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

async function temporalCli(cacheDir: string, logFile: string, say: (line: string) => void): Promise<void> {
  const binary = toolPaths(cacheDir).temporal;
  await once(path.dirname(binary), async () => {
    const go = require('go', 'builds the Temporal CLI dev server');
    say(`building the Temporal CLI ${versions.temporalCli} with go install (a few minutes, once)`);
    await run(go, ['install', `github.com/temporalio/cli/cmd/temporal@v${versions.temporalCli}`], {
      logFile,
      env: { ...process.env, CGO_ENABLED: '0', GOBIN: path.dirname(binary), GOFLAGS: '-buildvcs=false' },
    });
  });
}

async function mavenClasspath(
  pom: string,
  libDir: string,
  what: string,
  logFile: string,
  say: (line: string) => void,
): Promise<void> {
  await once(path.dirname(libDir), async () => {
    require('java', `runs ${what}`);
    const mvn = require('mvn', `downloads ${what} from Maven Central`);
    say(`downloading ${what} from Maven Central (once)`);
    await run(mvn, ['-q', '-B', '-f', pom, 'dependency:copy-dependencies', `-DoutputDirectory=${libDir}`], {
      logFile,
    });
  });
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
async function postgres(logFile: string, say: (line: string) => void): Promise<string> {
  const existing = postgresBinDir();
  if (existing) return existing;
  if (os.userInfo().uid !== 0 || !which('apt-get')) {
    throw new StackError('missing prerequisite: PostgreSQL server (Debian package postgresql); install it and run again');
  }
  say("installing PostgreSQL from Debian's packages (once)");
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await run('apt-get', ['update', '-q'], { logFile, env });
  await run('apt-get', ['install', '-y', '-q', 'postgresql'], { logFile, env });
  const installed = postgresBinDir();
  if (!installed) throw new StackError(`apt-get installed postgresql but no server binary was found; see ${logFile}`);
  return installed;
}

/** Installs whatever is missing into the cache (and PostgreSQL into the system) and returns where it all is. */
export async function ensureTools(cacheDir: string, logDir: string, say: (line: string) => void): Promise<ToolPaths> {
  const paths = toolPaths(cacheDir);
  const logFile = path.join(logDir, 'install.log');
  // One after the other: the Go build and Maven would fight over two cores and a log file.
  await temporalCli(cacheDir, logFile, say);
  await mavenClasspath(path.join(projectRoot, 'stack/maven/kafka/pom.xml'), paths.kafkaLib, `Apache Kafka ${versions.kafka}`, logFile, say);
  await mavenClasspath(
    path.join(projectRoot, 'stack/maven/temporal-test-server/pom.xml'),
    paths.testServerLib,
    `the Temporal test server ${versions.temporalTestServer}`,
    logFile,
    say,
  );
  return { ...paths, postgresBin: await postgres(logFile, say) };
}
