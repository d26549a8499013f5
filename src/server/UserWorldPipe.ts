import type { WorldFramePipe } from '../session/SessionPipe.js';
import type { User } from './User.js';

/**
 * The world layer's view of one user's session pipe, gated on world entry: frames are only
 * sent once the client has answered JoinWorld with ClientReady (and again after a later
 * `joinWorld()` is answered). Frames built before that are dropped here, on purpose: the world
 * layer treats them as lost and resends their content (latest values, every unacknowledged
 * command) once the gate opens, so nothing is lost and no separate backlog is kept.
 */
export class UserWorldPipe implements WorldFramePipe {
  /** Frames handed to the session pipe, and their bytes. */
  framesSent = 0;
  bytesSent = 0;
  /** Frames withheld because the client was not ready yet. */
  withheld = 0;

  constructor(private readonly user: User) {}

  get maxWorldFrameBytes(): number {
    return this.user.session.pipe.maxWorldFrameBytes;
  }

  get rttMs(): number {
    return this.user.session.pipe.rttMs;
  }

  sendWorldFrame(frame: Uint8Array): void {
    if (this.user.ready && this.user.connected) {
      this.user.session.pipe.sendWorldFrame(frame);
      this.framesSent++;
      this.bytesSent += frame.length;
    } else this.withheld++;
  }
}
