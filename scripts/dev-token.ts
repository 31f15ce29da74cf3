import { signDevToken } from '../api/auth.js';
import { loadConfig } from '../config/index.js';

// Prints a development JWT for a user id: `npm run token -- <user-id> [hours] [--admin]`;
// --admin grants the admin role (GET /api/v1/admin/stats).
const args = process.argv.slice(2);
const [userId, hours = '24'] = args.filter((a) => a !== '--admin');
const roles = args.includes('--admin') ? ['admin'] : [];
const config = loadConfig();

function refuse(message: string): never {
  console.error(message);
  process.exit(2);
}

if (!userId) refuse('usage: npm run token -- <user-id> [hours valid, default 24] [--admin]');
if (!(Number(hours) > 0)) refuse(`hours must be a positive number, not "${hours}"`);
if (config.env === 'production') refuse('dev tokens are not minted in production');
if (config.jwt.jwksUrl) refuse('JWT_JWKS_URL is set: tokens come from that issuer, not from JWT_SECRET');

const expiresAt = new Date(Date.now() + Number(hours) * 60 * 60 * 1000);
console.log(await signDevToken(config.jwt, userId, expiresAt, roles));
