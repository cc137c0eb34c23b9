#!/usr/bin/env node
// The `meridian` binary. It runs the TypeScript sources through tsx, so it works straight after
// `npm ci` with no build step.
import { register } from "tsx/esm/api"

register()
await import("../src/main.ts")
