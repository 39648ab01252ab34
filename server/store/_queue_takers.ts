// Copyright mb authors. MIT license.

/**
 * Who takes a queue's messages and what they hold: push consumers and
 * waiting fetches share the work round-robin, each up to its limit, and
 * every delivery waits in flight for its ack.
 *
 * @module
 */

import type { Deadline, Due } from "./_queue_lists.ts";
import type { DurableSink } from "./sink.ts";

/** A push consumer or a waiting fetch. */
export interface Taker {
  /** Its connection. */
  readonly sink: DurableSink;
  /** The sid its deliveries carry. */
  readonly sid: number;
  /** Prefetch of a consumer, `max` of a fetch. */
  readonly limit: number;
  /** A consumer: messages in flight; a fetch: messages delivered so far. */
  held: number;
  /** A fetch, not a push consumer. */
  readonly fetch: boolean;
  /** A fetch that ends as soon as nothing is ready (`waitMs` 0). */
  readonly immediate: boolean;
  /** Still taking messages. */
  active: boolean;
  /** Ids in flight to it. */
  readonly ids: Set<number>;
  /** A fetch's answer. */
  resolve?: (delivered: number) => void;
  /** A fetch's wait timer. */
  timer?: ReturnType<typeof setTimeout>;
}

/** A delivery waiting for its ack. */
export interface Flight extends Deadline {
  /** The message. */
  readonly id: number;
  /** Who holds it. */
  readonly taker: Taker;
  /** Deliveries so far, this one included. */
  readonly count: number;
  /** Bytes it counts for against `maxBytes`. */
  readonly size: number;
}

/** A message waiting for redelivery. */
export interface Waiting extends Due {
  /** The message. */
  readonly id: number;
  /** Bytes it counts for against `maxBytes`. */
  readonly size: number;
}

/** Makes a taker. */
export function newTaker(
  sink: DurableSink,
  sid: number,
  limit: number,
  fetch: boolean,
  immediate = false,
): Taker {
  return { sink, sid, limit, held: 0, fetch, immediate, active: true, ids: new Set() };
}

/** The takers of one queue and the deliveries they hold. */
export class Takers {
  /** Active takers, in round-robin order. */
  readonly list: Taker[] = [];
  /** Deliveries waiting for their ack, by message id. */
  readonly flights: Map<number, Flight> = new Map();
  #next = 0;
  /** Every taker of a connection that is active or holds messages. */
  #bySink = new Map<DurableSink, Set<Taker>>();

  /** Adds an active taker at the end of the round. */
  add(taker: Taker): void {
    this.list.push(taker);
    let set = this.#bySink.get(taker.sink);
    if (set === undefined) this.#bySink.set(taker.sink, set = new Set());
    set.add(taker);
  }

  /** Index in {@linkcode list} of the next taker with room, or -1. */
  pick(): number {
    const list = this.list;
    const n = list.length;
    const start = this.#next < n ? this.#next : 0;
    for (let k = 0; k < n; k++) {
      let i = start + k;
      if (i >= n) i -= n;
      const taker = list[i];
      if (taker.held < taker.limit && !taker.sink.closed && taker.sink.full !== true) return i;
    }
    return -1;
  }

  /** Records a delivery to the taker at `index` (from {@linkcode pick}). */
  delivered(index: number, flight: Flight): void {
    this.#next = index + 1;
    const taker = flight.taker;
    taker.held++;
    taker.ids.add(flight.id);
    this.flights.set(flight.id, flight);
  }

  /** Removes a delivery that was acked, nacked or expired. */
  land(flight: Flight): void {
    this.flights.delete(flight.id);
    const taker = flight.taker;
    taker.ids.delete(flight.id);
    if (!taker.fetch) taker.held--;
    else if (!taker.active && taker.ids.size === 0) this.#forget(taker);
  }

  /** Ends a fetch: it takes nothing more; what it holds stays in flight. */
  finishFetch(taker: Taker): void {
    if (!taker.active) return;
    this.#deactivate(taker);
    clearTimeout(taker.timer);
    if (taker.ids.size === 0) this.#forget(taker);
    taker.resolve?.(taker.held);
  }

  /**
   * Ends a consumer and returns the deliveries it held, removed from
   * flight.
   */
  release(taker: Taker): Flight[] {
    if (!taker.active) return [];
    this.#deactivate(taker);
    this.#forget(taker);
    return this.#takeFlights(taker);
  }

  /**
   * Ends every consumer and fetch of a connection and returns every
   * delivery it held, removed from flight.
   */
  detach(sink: DurableSink): Flight[] {
    const set = this.#bySink.get(sink);
    if (set === undefined) return [];
    this.#bySink.delete(sink);
    const out: Flight[] = [];
    for (const taker of set) {
      if (taker.active) {
        if (taker.fetch) this.finishFetch(taker);
        else this.#deactivate(taker);
      }
      const flights = this.#takeFlights(taker);
      for (let i = 0; i < flights.length; i++) out.push(flights[i]);
    }
    return out;
  }

  /** Ends the fetches that are done when nothing more is ready. */
  finishIdleFetches(): void {
    const list = this.list;
    for (let i = list.length - 1; i >= 0; i--) {
      const taker = list[i];
      if (taker.fetch && (taker.held > 0 || taker.immediate || taker.sink.closed)) {
        this.finishFetch(taker);
      }
    }
  }

  /** Ends every taker (the queue is closing); deliveries stay in flight. */
  closeAll(): void {
    const list = this.list.slice();
    for (const taker of list) {
      if (taker.fetch) this.finishFetch(taker);
      else this.#deactivate(taker);
    }
  }

  #takeFlights(taker: Taker): Flight[] {
    const out: Flight[] = [];
    for (const id of taker.ids) {
      const flight = this.flights.get(id);
      if (flight === undefined) continue;
      this.flights.delete(id);
      out.push(flight);
    }
    taker.ids.clear();
    if (!taker.fetch) taker.held = 0;
    return out;
  }

  #deactivate(taker: Taker): void {
    taker.active = false;
    const index = this.list.indexOf(taker);
    if (index < 0) return;
    this.list.splice(index, 1);
    if (index < this.#next) this.#next--;
  }

  #forget(taker: Taker): void {
    const set = this.#bySink.get(taker.sink);
    if (set === undefined) return;
    set.delete(taker);
    if (set.size === 0) this.#bySink.delete(taker.sink);
  }
}
