// The bench's peer (PRODUCT §8): PostGraphile v5 over schema `accounts`, with
// the amber preset and simplify-inflection, serving /graphql on 127.0.0.1.
// Started and stopped by bench/run.py; never part of the service.
//
//   DATABASE_URL=postgresql://… PORT=5678 node server.mjs
import { createServer } from "node:http";

import { PgSimplifyInflectionPreset } from "@graphile/simplify-inflection";
import { postgraphile } from "postgraphile";
import { makePgService } from "postgraphile/adaptors/pg";
import { grafserv } from "postgraphile/grafserv/node";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) throw new Error("DATABASE_URL is required");
const port = Number(process.env.PORT ?? 5678);
// As many connections as the service's pool holds (bench/run.py: DB_POOL_MAX).
const poolSize = Number(process.env.POOL_SIZE ?? 16);

const preset = {
  extends: [PostGraphileAmberPreset, PgSimplifyInflectionPreset],
  pgServices: [
    makePgService({
      connectionString: databaseUrl,
      schemas: ["accounts"],
      poolConfig: { max: poolSize },
    }),
  ],
  grafserv: { graphiql: false, watch: false },
  grafast: { explain: false },
};

const pgl = postgraphile(preset);
const serv = pgl.createServ(grafserv);
const server = createServer();
server.on("error", (error) => {
  console.error(error);
  process.exit(1);
});
serv.addTo(server);
await pgl.getSchema(); // build the schema before the first request
server.listen(port, "127.0.0.1", () => {
  console.log(`postgraphile listening on 127.0.0.1:${port}`);
});

async function stop() {
  server.close();
  await pgl.release();
  process.exit(0);
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
