import pg from 'pg';

/**
 * Creates an empty database beside the one `serverUrl` names, on the same server and as the same
 * role, and returns its URL: a run of its own for the bench, the chaos run and the test suite.
 */
export async function createDatabase(serverUrl: string, name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(name)}`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}
