import { describe } from "@effect/vitest"
import { syncSeedTests } from "./simSync.js"

// The sync scenario must hold for every seed: 6 files × 50 seeds = 300 seeds per `npm test` (split
// so that vitest runs them in parallel). More: npm run sim:soak -- --scenario examples/scenarios/sync.yaml --seeds N
describe("sync scenario, seeds 1–50", () => syncSeedTests(1, 50))
