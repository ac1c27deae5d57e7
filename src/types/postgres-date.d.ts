declare module 'postgres-date' {
  /** Parses Postgres' text form of timestamp/timestamptz/date, including years 0001-0099 and BC. */
  export default function parseDate(value: string): Date | number | null;
}
