/** What every migration is given (its own file: the migrations and their index both import it). */
export type Dialect = 'sqlite' | 'postgres';
export interface MigrationContext {
  dialect: Dialect;
}
