# One image for every application process. docker-compose.yml and deploy/kubernetes run each with its
# own command, the entry point its npm script names, started by node itself so that SIGTERM reaches
# the process's graceful shutdown: api (api/main.ts), worker (workers/main.ts), relay
# (events/relay/main.ts), subscribers (events/subscribers/main.ts), the fake payment provider and the
# one-shot migrate (db:migrate, db:seed).
# Node 24: an LTS release, supported until April 2028.
# The build stage has the dev dependencies (the Prisma CLI, types); the image has none of them, no
# tests (.dockerignore), and runs as the unprivileged `node` user (uid 1000).
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --include=dev --ignore-scripts --no-audit --no-fund
COPY . .
RUN node scripts/generate-prisma-client.mjs && npm run build:workflows

FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production NPM_CONFIG_UPDATE_NOTIFIER=false
COPY package.json package-lock.json ./
# --ignore-scripts: the postinstall's `prisma generate` needs the CLI, a dev dependency; the client
# generated in the build stage is copied below.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY . .
COPY --from=build /app/generated ./generated
COPY --from=build /app/dist ./dist
# The development mail transport writes below .stack/mail (a volume in docker-compose.yml).
RUN mkdir -p .stack/mail && chown -R node:node .stack
USER node
CMD ["node", "--import", "tsx", "api/main.ts"]
