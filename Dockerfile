# One image for every application process; docker-compose.yml runs each with its own command:
# api (npm run api), worker (npm run worker), relay (npm run relay), subscribers (npm run subscribers),
# the fake payment provider (npm run payments:fake) and the one-shot migrate (db:migrate, db:seed).
# The build stage has the dev dependencies (the Prisma CLI, types); the image has none of them, and
# no tests (.dockerignore).
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --include=dev --ignore-scripts --no-audit --no-fund
COPY . .
# `prisma generate` runs no schema engine, but the CLI insists one is named: any existing file does.
RUN PRISMA_SCHEMA_ENGINE_BINARY=/usr/local/bin/node npx prisma generate \
 && npm run build:workflows

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY . .
COPY --from=build /app/generated ./generated
COPY --from=build /app/dist ./dist
# The development mail transport writes below .stack/mail (a volume in docker-compose.yml).
RUN mkdir -p .stack/mail && chown -R node:node .stack
USER node
CMD ["npm", "run", "api"]
