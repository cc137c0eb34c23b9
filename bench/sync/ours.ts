/**
 * Meridian's own folder sync (`meridian sync`, a daemon per device syncing a folder through a site)
 * as a {@link Contender} for `npm run bench:sync`. Not built yet: `ours` is `undefined`, and the
 * harness then measures only the baselines (Syncthing, rsync), prints them on stderr and no JSON
 * line. Once the daemon exists, `ours` is a Contender that starts a site and two `meridian sync`
 * processes on loopback (devices A and B on the two folders), and every measurement it supports
 * gets its JSON line against the baselines.
 */
import type { Contender } from "./contender.js"

export const ours: (() => Contender) | undefined = undefined
