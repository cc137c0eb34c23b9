/**
 * A request a module's raw HTTP route refuses: the status, a stable error name and a message,
 * answered as JSON `{ error, message }` (with extra headers such as `Retry-After`).
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 * @category errors
 */
export class Refused {
  readonly _tag = "Refused"
  constructor(
    readonly status: number,
    readonly error: string,
    readonly message: string,
    readonly headers: Record<string, string> = {}
  ) {}
}
