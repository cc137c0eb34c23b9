import { describe } from "@effect/vitest"
import { seedTests } from "./simSqlite.js"

// The roaming scenario must hold for every seed, on real SQL (each site on SQLite `:memory:`):
// 6 files × 50 seeds = 300 seeds per `npm test` (split so that vitest runs them in parallel).
// More: npm run sim:soak -- --scenario examples/scenarios/roaming.yaml --seeds N
describe("roaming scenario on SQLite, seeds 101–150", () => seedTests("roaming", 101, 150))
