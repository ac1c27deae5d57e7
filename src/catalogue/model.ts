import { Refusal } from '../refusal.js';

/** A service: one entry of the catalogue that orders include. */
export interface Service {
  id: number;
  name: string;
}

/** A service to add: with the caller's id, or one the database generates. */
export interface ServiceDraft {
  id?: number;
  name: string;
}

export class DuplicateServiceError extends Refusal {
  constructor(
    readonly field: 'id' | 'name',
    readonly value: string | number,
  ) {
    super(`a service with ${field} ${JSON.stringify(value)} already exists`);
  }
}

export class ServiceInUseError extends Refusal {
  constructor(readonly serviceId: number) {
    super(`service ${serviceId} is used by at least one order`);
  }
}

export class ServiceNotFoundError extends Refusal {
  constructor(readonly serviceId: number) {
    super(`there is no service ${serviceId}`);
  }
}

/** Names are compared and stored without surrounding whitespace. */
export function serviceName(name: string): string {
  return name.trim();
}
