import { defineConfig } from 'prisma/config';
import { loadConfig } from './config/index.js';

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations', seed: 'tsx prisma/seed.ts' },
  datasource: { url: loadConfig().postgres.url },
});
