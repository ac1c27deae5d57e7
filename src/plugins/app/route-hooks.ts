/** A route option's hooks (one function, a list, or none) as a list, to add one to a route in onRoute. */
export function hooksOf<Hook>(hooks: Hook | Hook[] | undefined): Hook[] {
  return hooks === undefined ? [] : Array.isArray(hooks) ? hooks : [hooks];
}
