// Formatting is Prettier's alone (ESLint has no style or max-len rule). Chosen to match the code as written.
/** @type {import('prettier').Config} */
export default {
  printWidth: 120,
  singleQuote: true,
  trailingComma: 'all',
  semi: true,
};
