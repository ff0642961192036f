/**
 * Faults for the e2e scenarios, all as SDK middleware on the product's real clients (or wrappers around the
 * product's ports for a crash):
 *
 * - `apiFaults`: AWS answering with throttling or 5xx. The middleware sits *inside* the SDK's retry loop
 *   (right after `retryMiddleware`), where a real error answer is seen, so the SDK's own retries and
 *   backoff handle it first and the adapters only see what outlasts them. (test/support/faults.ts injects
 *   before the retry loop, which is right for "the call failed" but skips the SDK's retries.)
 * - `concurrentDistributionEditor` / `concurrentWebAclEditor`: someone else edits the same distribution or web
 *   ACL between the rotation's read and its write. For WAF the editor's real update makes moto refuse the
 *   rotation's stale LockToken with a real WAFOptimisticLockException; moto ignores CloudFront's IfMatch, so
 *   the stale-ETag answer (PreconditionFailed, 412) is injected after the editor's real update.
 * - `crashAfterWrites`: the process dies after its n-th write to a target: that call completes, and every
 *   later call of the run (reads, writes, alerts, sleeps) fails, so nothing of the rollback reaches AWS.
 */
import { GetDistributionConfigCommand, UpdateDistributionCommand, type CloudFrontClient, type DistributionConfig } from '@aws-sdk/client-cloudfront';
import { GetWebACLCommand, UpdateWebACLCommand, type Rule, type WAFV2Client } from '@aws-sdk/client-wafv2';
import { updateRequestKeepingSettings } from '../../../lambdas/adapters/wafv2.ts';
import type { Clock } from '../../../lambdas/core/ports.ts';
import type { RotationDeps } from '../../../lambdas/core/rotation.ts';
import { serviceError } from '../../support/faults.ts';

type Stack = {
  add: (...args: any[]) => void;
  addRelativeTo: (...args: any[]) => void;
  remove: (name: string) => boolean;
};
const stackOf = (client: { middlewareStack: unknown }) => client.middlewareStack as Stack;

let counter = 0;

export interface ApiFaultSpec {
  /** Commands to fault (e.g. `UpdateDistributionCommand`); every command when absent. */
  commands?: string[];
  /**
   * The error for attempt `attempt` (1-based) of the `call`-th call of that command, or undefined to let it
   * through. Attempts are the SDK's retries of one call.
   */
  fail: (call: number, attempt: number, command: string) => Error | undefined;
}

export interface ApiFaults {
  /** Errors thrown, by command. */
  readonly injected: Record<string, number>;
  remove(): void;
}

export function apiFaults(client: { middlewareStack: unknown }, spec: ApiFaultSpec): ApiFaults {
  const name = `e2e-api-fault-${++counter}`;
  const calls = new Map<string, number>();
  const attempts = new WeakMap<object, { call: number; attempt: number }>();
  const injected: Record<string, number> = {};
  stackOf(client).addRelativeTo(
    (next: (args: { input: object }) => Promise<unknown>, context: { commandName?: string }) => async (args: { input: object }) => {
      const command = context.commandName ?? 'unknown';
      if (spec.commands && !spec.commands.includes(command)) return next(args);
      // The SDK retries one call with the same input object: that identifies the attempts of a call.
      let state = attempts.get(args.input);
      if (!state) {
        const call = (calls.get(command) ?? 0) + 1;
        calls.set(command, call);
        state = { call, attempt: 0 };
        attempts.set(args.input, state);
      }
      state.attempt += 1;
      const error = spec.fail(state.call, state.attempt, command);
      if (error) {
        injected[command] = (injected[command] ?? 0) + 1;
        throw error;
      }
      return next(args);
    },
    { name, relation: 'after', toMiddleware: 'retryMiddleware' },
  );
  return { injected, remove: () => void stackOf(client).remove(name) };
}

/** Throttling on the first attempt and a 5xx on the second, for the calls `every` selects. */
export function throttleThen5xx(throttleName: string, serverName: string, every: (call: number) => boolean): ApiFaultSpec['fail'] {
  return (call, attempt) => {
    if (!every(call)) return undefined;
    if (attempt === 1) return serviceError(throttleName, 'Rate exceeded', 400);
    if (attempt === 2) return serviceError(serverName, 'We encountered an internal error. Please try again.', 503);
    return undefined;
  };
}

/** Someone else changes the distribution just before the rotation's first UpdateDistribution lands. */
export function concurrentDistributionEditor(
  rotationClient: CloudFrontClient,
  editorClient: CloudFrontClient,
  distributionId: string,
  edit: (config: DistributionConfig) => void,
): { readonly edits: number; remove(): void } {
  const name = `e2e-cf-editor-${++counter}`;
  let edits = 0;
  stackOf(rotationClient).add(
    (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: unknown) => {
      if (context.commandName !== 'UpdateDistributionCommand' || edits > 0) return next(args);
      edits += 1;
      const current = await editorClient.send(new GetDistributionConfigCommand({ Id: distributionId }));
      const config = structuredClone(current.DistributionConfig!);
      edit(config);
      await editorClient.send(new UpdateDistributionCommand({ Id: distributionId, IfMatch: current.ETag, DistributionConfig: config }));
      // The rotation's IfMatch is now stale: CloudFront answers 412 (moto would accept it).
      throw serviceError('PreconditionFailed', 'The request failed because it didn’t meet the preconditions in one or more request-header fields.', 412);
    },
    { step: 'initialize', name, priority: 'high' },
  );
  return {
    get edits() {
      return edits;
    },
    remove: () => void stackOf(rotationClient).remove(name),
  };
}

/** Someone else adds `rule` to the web ACL just before the rotation's first UpdateWebACL lands. */
export function concurrentWebAclEditor(
  rotationClient: WAFV2Client,
  editorClient: WAFV2Client,
  ref: { name: string; id: string; scope: 'REGIONAL' },
  rule: Rule,
): { readonly edits: number; readonly lockConflicts: number; remove(): void } {
  const name = `e2e-waf-editor-${++counter}`;
  let edits = 0;
  let lockConflicts = 0;
  stackOf(rotationClient).add(
    (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: unknown) => {
      if (context.commandName !== 'UpdateWebACLCommand') return next(args);
      if (edits === 0) {
        edits += 1;
        const current = await editorClient.send(new GetWebACLCommand({ Scope: ref.scope, Name: ref.name, Id: ref.id }));
        const rules = [...(current.WebACL!.Rules ?? []), rule];
        await editorClient.send(new UpdateWebACLCommand(updateRequestKeepingSettings(ref, current.WebACL!, current.LockToken!, rules)));
      }
      try {
        return await next(args);
      } catch (error) {
        if ((error as Error).name === 'WAFOptimisticLockException') lockConflicts += 1;
        throw error;
      }
    },
    { step: 'initialize', name, priority: 'high' },
  );
  return {
    get edits() {
      return edits;
    },
    get lockConflicts() {
      return lockConflicts;
    },
    remove: () => void stackOf(rotationClient).remove(name),
  };
}

export class ProcessDied extends Error {
  override name = 'ProcessDied';
}

/**
 * The rotation's ports, for a process that dies right after its `writes`-th write (a call that changes a
 * target: putPending, moveStage, setTags, removeTags, send, accept; 0 = before the first). The dying call
 * completes; from then on every port call and sleep of this process throws, so its rollback never runs
 * (nor its alert: a dead process publishes nothing).
 */
export function crashAfterWrites(
  deps: RotationDeps,
  writes: number,
  /** Ports whose writes change nothing outside (a crash right after one equals a crash before the next write). */
  noOpWriters: string[] = [],
): { deps: RotationDeps; readonly died: boolean; readonly writesDone: number; readonly lastWrite?: string } {
  let done = 0;
  let dead = writes === 0;
  let lastWrite: string | undefined;
  const guard = () => {
    if (dead) throw new ProcessDied(`the process died after write #${writes}${lastWrite ? ` (${lastWrite})` : ''}`);
  };
  const wrap = <T extends object>(target: T, label: string, writeMethods: string[]): T =>
    new Proxy(target, {
      get(obj, prop, receiver) {
        const value = Reflect.get(obj, prop, receiver);
        if (typeof value !== 'function') return value;
        return async (...args: unknown[]) => {
          guard();
          const result = await value.apply(obj, args);
          if (writeMethods.includes(String(prop)) && !noOpWriters.includes(label)) {
            done += 1;
            lastWrite = `${label}.${String(prop)}`;
            if (done >= writes) dead = true;
          }
          return result;
        };
      },
    });
  const clock: Clock = {
    now: () => deps.clock.now(),
    sleep: async (ms) => {
      guard();
      await deps.clock.sleep(ms);
      guard();
    },
  };
  const crashed: RotationDeps = {
    ...deps,
    clock,
    store: wrap(deps.store, 'store', ['putPending', 'moveStage', 'setTags', 'removeTags']),
    senders: deps.senders.map((s) => wrap(s, s.id, ['send'])),
    validators: deps.validators.map((v) => wrap(v, v.id, ['accept'])),
    alerts: deps.alerts ? wrap(deps.alerts, 'alerts', []) : undefined,
  };
  return {
    deps: crashed,
    get died() {
      return dead;
    },
    get writesDone() {
      return done;
    },
    get lastWrite() {
      return lastWrite;
    },
  };
}
