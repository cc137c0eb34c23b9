/**
 * Whole-number flags and arguments whose bad values are said plainly (`--seed wants a whole
 * number, not 'abc'`) instead of @effect/cli's `'abc' is not a integer`.
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Effect from "effect/Effect"

const isWhole = (text: string) => /^-?\d+$/.test(text.trim()) && Number.isSafeInteger(Number(text))
const notWhole = (what: string, text: string) => HelpDoc.p(`${what} wants a whole number, not '${text}'`)

/**
 * `--NAME N`: a whole number.
 *
 * @since 0.1.0
 * @category options
 */
export const integer = (name: string): Options.Options<number> =>
  Options.text(name).pipe(
    Options.withPseudoName("N"),
    Options.mapEffect((text) =>
      isWhole(text)
        ? Effect.succeed(Number(text))
        : Effect.fail(ValidationError.invalidValue(notWhole(`--${name}`, text)))
    )
  )

/**
 * A whole-number argument.
 *
 * @since 0.1.0
 * @category options
 */
export const integerArg = (name: string): Args.Args<number> =>
  Args.text({ name }).pipe(
    Args.mapEffect((text) => (isWhole(text) ? Effect.succeed(Number(text)) : Effect.fail(notWhole(name, text))))
  )
