import { describe } from "@effect/vitest"
import { seedTests } from "./seeds.js"

// The partition scenario must hold for every seed: 4 files × 50 seeds = 200 seeds per `npm test`
// (split so that vitest runs them in parallel). More: npm run sim:soak -- --scenario FILE --seeds N
describe("partition scenario, seeds 151–200", () => seedTests("partition", 151, 200))
