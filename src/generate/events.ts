/**
 * The event simulation: a bounded pool of users whose sessions interleave in time. Events come out one at a
 * time in increasing `ts` order (ties broken by session id), from state that is O(users + active sessions),
 * both capped, whatever the number of events. Nothing here does I/O; generator.ts writes the lines.
 *
 * Timing: sessions arrive as a Poisson process whose rate is recomputed at every arrival from the events
 * still to allocate and the time left in the month, so exactly `events` events spread over the whole month.
 * Every session is allotted its number of events when it starts; a gap that would cross the month's end is
 * shortened so the session's remaining events still fit. When the requested volume needs more concurrent
 * sessions than half the user pool, the gaps of new sessions are scaled down instead (only at very high volumes).
 */
import { Random } from './random.js';
import { generatedSong, songTitle } from './songs.js';
import {
  FIRST_NAMES_USER_F,
  FIRST_NAMES_USER_M,
  LAST_NAMES_USER,
  PLAY_ONLY_ARTISTS,
  PLAY_ONLY_TITLES,
  USER_AGENTS,
  USER_LOCATIONS,
} from './vocabulary.js';

/** One event line's fields, in the JSONPaths order. */
export interface SparkifyEvent {
  artist: string | null;
  auth: 'Logged In' | 'Logged Out' | 'Guest' | 'Cancelled';
  firstName: string | null;
  gender: string | null;
  itemInSession: number;
  lastName: string | null;
  length: number | null;
  level: 'free' | 'paid';
  location: string | null;
  method: 'GET' | 'PUT';
  page: string;
  registration: number | null;
  sessionId: number;
  song: string | null;
  status: number;
  ts: number;
  userAgent: string | null;
  userId: string;
}

export interface SimulationOptions {
  seed: number;
  songs: number;
  events: number;
  matchShare: number;
  /** First millisecond of the period (inclusive) and its end (exclusive). */
  start: number;
  end: number;
  /** Counters updated as events are produced. */
  stats?: { songPlays: number; matchedPlays: number };
}

/** Most users simulated at once (the pool is about one user per 80 events below that, as in the real sample). */
export const MAX_USERS = 3000;

interface User {
  id: number;
  firstName: string;
  lastName: string;
  gender: 'M' | 'F';
  level: 'free' | 'paid';
  location: string;
  userAgent: string;
  registration: number;
}

type Pending = 'upgrade' | 'downgrade' | 'settings' | 'cancel' | null;

interface Session {
  id: number;
  /** Index of the user's slot in the pool, or -1 for a guest. */
  slot: number;
  state: 'in' | 'out' | 'guest';
  item: number;
  /** Events this session still has to emit, the next one included. */
  remaining: number;
  nextTs: number;
  gapScale: number;
  pending: Pending;
}

/** Binary min-heap of sessions by (nextTs, id). */
class SessionHeap {
  private readonly items: Session[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): Session | undefined {
    return this.items[0];
  }

  private static less(a: Session, b: Session): boolean {
    return a.nextTs < b.nextTs || (a.nextTs === b.nextTs && a.id < b.id);
  }

  push(session: Session): void {
    const items = this.items;
    items.push(session);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!SessionHeap.less(items[i] as Session, items[parent] as Session)) break;
      [items[i], items[parent]] = [items[parent] as Session, items[i] as Session];
      i = parent;
    }
  }

  pop(): Session | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last !== undefined) {
      items[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < items.length && SessionHeap.less(items[l] as Session, items[m] as Session)) m = l;
        if (r < items.length && SessionHeap.less(items[r] as Session, items[m] as Session)) m = r;
        if (m === i) break;
        [items[i], items[m]] = [items[m] as Session, items[i] as Session];
        i = m;
      }
    }
    return top;
  }
}

interface PageSpec {
  page: string;
  method: 'GET' | 'PUT';
  status: number;
  weight: number;
  when?: (user: User, session: Session) => boolean;
}

/** Pages of a logged-in user, with their share. NextSong is about three quarters of the events. */
const LOGGED_IN_PAGES: readonly PageSpec[] = [
  { page: 'NextSong', method: 'PUT', status: 200, weight: 76 },
  { page: 'Thumbs Up', method: 'PUT', status: 307, weight: 5 },
  { page: 'Home', method: 'GET', status: 200, weight: 3.5 },
  { page: 'Add to Playlist', method: 'PUT', status: 200, weight: 2.5 },
  { page: 'Roll Advert', method: 'GET', status: 200, weight: 3, when: (u) => u.level === 'free' },
  { page: 'Add Friend', method: 'PUT', status: 307, weight: 1.5 },
  { page: 'Thumbs Down', method: 'PUT', status: 307, weight: 1 },
  { page: 'Logout', method: 'PUT', status: 307, weight: 1.2 },
  { page: 'Upgrade', method: 'GET', status: 200, weight: 1.5, when: (u) => u.level === 'free' },
  { page: 'Downgrade', method: 'GET', status: 200, weight: 0.8, when: (u) => u.level === 'paid' },
  { page: 'Settings', method: 'GET', status: 200, weight: 0.6 },
  { page: 'Help', method: 'GET', status: 200, weight: 0.6 },
  { page: 'About', method: 'GET', status: 200, weight: 0.3 },
  { page: 'Error', method: 'GET', status: 404, weight: 0.15 },
  { page: 'Cancel', method: 'PUT', status: 307, weight: 0.06, when: (_u, s) => s.remaining >= 2 },
];

const LOGGED_OUT_PAGES: readonly PageSpec[] = [
  { page: 'Home', method: 'GET', status: 200, weight: 50 },
  { page: 'Login', method: 'PUT', status: 307, weight: 35 },
  { page: 'About', method: 'GET', status: 200, weight: 8 },
  { page: 'Help', method: 'GET', status: 200, weight: 5 },
  { page: 'Error', method: 'GET', status: 404, weight: 2 },
];

const GUEST_PAGES: readonly PageSpec[] = [
  { page: 'Home', method: 'GET', status: 200, weight: 45 },
  { page: 'Help', method: 'GET', status: 200, weight: 15 },
  { page: 'About', method: 'GET', status: 200, weight: 10 },
  { page: 'Register', method: 'GET', status: 200, weight: 15 },
  { page: 'Submit Registration', method: 'PUT', status: 307, weight: 10 },
  { page: 'Error', method: 'GET', status: 404, weight: 5 },
];

const FOLLOW_UP: Readonly<Record<Exclude<Pending, null>, { spec: PageSpec; chance: number }>> = {
  upgrade: { spec: { page: 'Submit Upgrade', method: 'PUT', status: 307, weight: 0 }, chance: 0.5 },
  downgrade: { spec: { page: 'Submit Downgrade', method: 'PUT', status: 307, weight: 0 }, chance: 0.45 },
  settings: { spec: { page: 'Save Settings', method: 'PUT', status: 307, weight: 0 }, chance: 0.4 },
  cancel: { spec: { page: 'Cancellation Confirmation', method: 'GET', status: 200, weight: 0 }, chance: 1 },
};

/** Mean number of events of a user session and mean gap between its events (ms), for pacing. */
const MEAN_SESSION_EVENTS = 12;
const MEAN_GAP_MS = 190_000;
const DAY_MS = 86_400_000;

/** A deterministic stream of events, increasing in `ts`. */
export function* simulateEvents(options: SimulationOptions): Generator<SparkifyEvent, void, undefined> {
  const { seed, songs, events: total, matchShare, start, end } = options;
  const stats = options.stats ?? { songPlays: 0, matchedPlays: 0 };
  const rng = Random.of(seed, 0x53_49_4d);
  const limit = end - 1;

  // The user pool: slots hold users; a cancelled user's slot gets a new user (new id).
  const userCount = Math.min(MAX_USERS, Math.max(8, Math.ceil(total / 80)));
  let nextUserId = 2 + rng.int(10);
  const newUser = (registration: number): User => {
    const gender = rng.chance(0.5) ? 'F' : 'M';
    const id = nextUserId;
    nextUserId += 1 + (rng.chance(0.2) ? rng.int(5) : 0);
    return {
      id,
      firstName: rng.pick(gender === 'F' ? FIRST_NAMES_USER_F : FIRST_NAMES_USER_M),
      lastName: rng.pick(LAST_NAMES_USER),
      gender,
      level: rng.chance(0.3) ? 'paid' : 'free',
      location: rng.pick(USER_LOCATIONS),
      userAgent: rng.pick(USER_AGENTS),
      registration,
    };
  };
  const users: User[] = [];
  for (let i = 0; i < userCount; i++) users.push(newUser(start - rng.range(3_600_000, 120 * DAY_MS)));
  const freeSlots: number[] = users.map((_, i) => i);

  const heap = new SessionHeap();
  let nextSessionId = 1 + rng.int(1000);
  let unallocated = total; // events not yet allotted to a session
  let emitted = 0;
  let lastTs = start;
  let waitingForUser = false;
  let allottedSum = 0;
  let sessionsStarted = 0;

  const arrivalGap = (now: number): number => {
    if (unallocated <= 0) return Infinity;
    const left = Math.max(0, limit - now);
    const window = Math.max(left / 2, left - MEAN_SESSION_EVENTS * MEAN_GAP_MS);
    // Events per session so far (with a prior): guests, cancellations and the cap make it differ from the draw.
    const perSession = (allottedSum + 20 * MEAN_SESSION_EVENTS) / (sessionsStarted + 20);
    const mean = (window * perSession) / unallocated;
    return Math.floor(Math.min(rng.exponential(mean), window));
  };
  let nextArrival = start + arrivalGap(start);

  const startSession = (now: number): void => {
    const guest = rng.chance(0.04);
    if (!guest && freeSlots.length === 0) {
      waitingForUser = true;
      return;
    }
    let slot = -1;
    if (!guest) {
      const k = rng.int(freeSlots.length);
      slot = freeSlots[k] as number;
      freeSlots[k] = freeSlots[freeSlots.length - 1] as number;
      freeSlots.pop();
    }
    const length = guest ? rng.range(1, 4) : Math.min(200, 1 + Math.floor(rng.exponential(MEAN_SESSION_EVENTS - 1)));
    const allotted = Math.min(unallocated, length);
    unallocated -= allotted;
    allottedSum += allotted;
    sessionsStarted++;
    // Pace: if the events left need more concurrent sessions than half the pool can give, shorten the gaps.
    const needed = ((total - emitted) / Math.max(1, limit - now)) * MEAN_GAP_MS;
    const gapScale = needed > userCount / 2 ? userCount / 2 / needed : 1;
    heap.push({
      id: nextSessionId++,
      slot,
      state: guest ? 'guest' : rng.chance(0.08) ? 'out' : 'in',
      item: 0,
      remaining: allotted,
      nextTs: now,
      gapScale,
      pending: null,
    });
    nextArrival = now + arrivalGap(now);
  };

  const choose = (pages: readonly PageSpec[], user: User | null, session: Session): PageSpec => {
    let sum = 0;
    for (const p of pages) if (!p.when || (user && p.when(user, session))) sum += p.weight;
    let x = rng.next() * sum;
    for (const p of pages) {
      if (p.when && !(user && p.when(user, session))) continue;
      x -= p.weight;
      if (x < 0) return p;
    }
    return pages[0] as PageSpec;
  };

  const release = (session: Session, ts: number, cancelled: boolean): void => {
    unallocated += session.remaining; // events the session did not use go back to the pool
    allottedSum -= session.remaining;
    session.remaining = 0;
    if (session.slot >= 0) {
      if (cancelled) users[session.slot] = newUser(ts);
      freeSlots.push(session.slot);
      if (waitingForUser) {
        waitingForUser = false;
        nextArrival = Math.max(nextArrival, lastTs);
      }
    }
    if (unallocated > 0 && nextArrival === Infinity) nextArrival = ts + arrivalGap(ts);
  };

  while (emitted < total) {
    const top = heap.peek();
    if (!waitingForUser && unallocated > 0 && (top === undefined || nextArrival <= top.nextTs)) {
      startSession(Math.max(nextArrival, lastTs));
      continue;
    }
    const session = heap.pop();
    /* c8 ignore next */
    if (session === undefined) throw new Error('event simulation stalled');
    const ts = session.nextTs;
    lastTs = ts;
    const user = session.slot >= 0 ? (users[session.slot] as User) : null;

    let spec: PageSpec;
    const pending = session.pending;
    session.pending = null;
    if (session.state === 'guest') spec = choose(GUEST_PAGES, null, session);
    else if (session.state === 'out') spec = choose(LOGGED_OUT_PAGES, user, session);
    else if (pending !== null && rng.chance(FOLLOW_UP[pending].chance)) spec = FOLLOW_UP[pending].spec;
    else spec = choose(LOGGED_IN_PAGES, user, session);

    const event: SparkifyEvent = {
      artist: null,
      auth: session.state === 'guest' ? 'Guest' : session.state === 'out' ? 'Logged Out' : 'Logged In',
      firstName: null,
      gender: null,
      itemInSession: session.item,
      lastName: null,
      length: null,
      level: user ? user.level : 'free',
      location: null,
      method: spec.method,
      page: spec.page,
      registration: null,
      sessionId: session.id,
      song: null,
      status: spec.status,
      ts,
      userAgent: null,
      userId: '',
    };
    if (session.state === 'in' && user) {
      if (spec.page === 'Cancellation Confirmation') event.auth = 'Cancelled';
      event.firstName = user.firstName;
      event.gender = user.gender;
      event.lastName = user.lastName;
      event.location = user.location;
      event.registration = user.registration;
      event.userAgent = user.userAgent;
      event.userId = String(user.id);
    }

    let gap = rng.range(1_000, 90_000);
    let cancelled = false;
    switch (spec.page) {
      case 'NextSong': {
        stats.songPlays++;
        if (songs > 0 && rng.chance(matchShare)) {
          stats.matchedPlays++;
          // Popular songs (low indexes) are played more often.
          const song = generatedSong(seed, Math.floor(songs * rng.next() ** 2.5)).record;
          event.artist = song.artist_name;
          event.song = song.title;
          event.length = song.duration;
        } else {
          event.artist = rng.pick(PLAY_ONLY_ARTISTS);
          event.song = rng.chance(0.5) ? rng.pick(PLAY_ONLY_TITLES) : songTitle(rng);
          event.length = rng.decimal5(60, 600);
        }
        const lengthMs = Math.round(event.length * 1000);
        gap = rng.chance(0.85) ? lengthMs + rng.int(1500) : rng.range(5_000, Math.max(5_000, lengthMs));
        break;
      }
      case 'Login':
        session.state = 'in';
        break;
      case 'Logout':
        session.state = 'out';
        break;
      case 'Upgrade':
        session.pending = 'upgrade';
        break;
      case 'Downgrade':
        session.pending = 'downgrade';
        break;
      case 'Settings':
        session.pending = 'settings';
        break;
      case 'Cancel':
        session.pending = 'cancel';
        break;
      case 'Submit Upgrade':
        if (user) user.level = 'paid';
        break;
      case 'Submit Downgrade':
        if (user) user.level = 'free';
        break;
      case 'Cancellation Confirmation':
        cancelled = true;
        break;
    }

    emitted++;
    session.item++;
    session.remaining--;
    if (session.remaining > 0 && !cancelled) {
      gap = Math.floor(gap * session.gapScale);
      // Keep the rest of the session inside the month.
      gap = Math.min(gap, Math.floor((limit - ts) / session.remaining));
      session.nextTs = ts + Math.max(0, gap);
      heap.push(session);
    } else {
      release(session, ts, cancelled);
    }
    yield event;
  }
}

/** Days of the month `YYYY-MM` as [start, end) epoch milliseconds (UTC) and the number of days. */
export const monthRange = (month: string): { start: number; end: number; days: number } => {
  const [year, mon] = month.split('-').map(Number) as [number, number];
  const start = Date.UTC(year, mon - 1, 1);
  const end = Date.UTC(year, mon, 1);
  return { start, end, days: Math.round((end - start) / DAY_MS) };
};

/** JSON text of log strings with `\/` for every slash, memoized: names, pages, agents and titles repeat a lot. */
const escaped = new Map<string, string>();
const ESCAPED_MAX = 50_000;
const jsonString = (v: string | null): string => {
  if (v === null) return 'null';
  let text = escaped.get(v);
  if (text === undefined) {
    text = JSON.stringify(v);
    if (text.includes('/')) text = text.replace(/\//g, '\\/');
    if (escaped.size < ESCAPED_MAX) escaped.set(v, text);
  }
  return text;
};
const jsonFloat = (v: number | null): string =>
  v === null ? 'null' : Number.isInteger(v) ? `${v}.0` : JSON.stringify(v);

/** One event as a log line: keys in the JSONPaths order, compact, slashes escaped, registration as a float. */
export const eventLine = (e: SparkifyEvent): string =>
  `{"artist":${jsonString(e.artist)},"auth":${jsonString(e.auth)},"firstName":${jsonString(e.firstName)},` +
  `"gender":${jsonString(e.gender)},"itemInSession":${e.itemInSession},"lastName":${jsonString(e.lastName)},` +
  `"length":${jsonFloat(e.length)},"level":${jsonString(e.level)},"location":${jsonString(e.location)},` +
  `"method":${jsonString(e.method)},"page":${jsonString(e.page)},"registration":${jsonFloat(e.registration)},` +
  `"sessionId":${e.sessionId},"song":${jsonString(e.song)},"status":${e.status},"ts":${e.ts},` +
  `"userAgent":${jsonString(e.userAgent)},"userId":${jsonString(e.userId)}}`;
