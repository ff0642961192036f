/**
 * The rotation view derived from Secrets Manager stages and tags (lambdas/core/rotation-state.ts), case by case:
 * what the CLI, the Lambdas, the verifier and the audit all read as the truth.
 */
import { describe, expect, it } from 'vitest';
import { STAGE, TAG, type SecretDescription } from '../../lambdas/core/ports.ts';
import { acceptedVersionIds, progressTags, rotationView } from '../../lambdas/core/rotation-state.ts';

const OPENED = '2026-01-01T00:00:00.000Z';

function secret(versions: Array<[string, string[]]>, tags: Record<string, string> = {}): SecretDescription {
  return { arn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:s', name: 's', versions: versions.map(([versionId, stages]) => ({ versionId, stages })), tags, rotationEnabled: true };
}

describe('rotationView', () => {
  it('a secret at rest: current only, nothing rotating, no overlap, no emergency', () => {
    expect(rotationView(secret([['v1', [STAGE.CURRENT]]]))).toEqual({
      currentVersionId: 'v1',
      pendingVersionId: undefined,
      previousVersionId: undefined,
      rotating: false,
      overlapOpenedAt: undefined,
      emergency: false,
    });
  });

  it('a rotation under way: the pending version, rotating', () => {
    const view = rotationView(secret([['v1', [STAGE.CURRENT]], ['v2', [STAGE.PENDING]]]));
    expect(view).toMatchObject({ currentVersionId: 'v1', pendingVersionId: 'v2', rotating: true });
    expect(acceptedVersionIds(view)).toEqual(['v1', 'v2']);
  });

  it('AWSPENDING left on the AWSCURRENT version is a finished rotation', () => {
    const view = rotationView(secret([['v2', [STAGE.CURRENT, STAGE.PENDING]], ['v1', [STAGE.PREVIOUS]]]));
    expect(view).toMatchObject({ currentVersionId: 'v2', pendingVersionId: undefined, rotating: false });
  });

  it('an open overlap: the overlap version is accepted after current, with when it opened', () => {
    const view = rotationView(secret([['v2', [STAGE.CURRENT]], ['v1', [STAGE.PREVIOUS]]], { [TAG.OVERLAP_VERSION]: 'v1', [TAG.OVERLAP_OPENED_AT]: OPENED }));
    expect(view.previousVersionId).toBe('v1');
    expect(view.overlapOpenedAt).toEqual(new Date(OPENED));
    expect(acceptedVersionIds(view)).toEqual(['v2', 'v1']);
  });

  it('no overlap without both tags, with an unreadable time, or with the overlap version still current', () => {
    const versions: Array<[string, string[]]> = [['v2', [STAGE.CURRENT]], ['v1', [STAGE.PREVIOUS]]];
    for (const tags of <Array<Record<string, string>>>[
      { [TAG.OVERLAP_VERSION]: 'v1' },
      { [TAG.OVERLAP_OPENED_AT]: OPENED },
      { [TAG.OVERLAP_VERSION]: 'v1', [TAG.OVERLAP_OPENED_AT]: 'not a time' },
      { [TAG.OVERLAP_VERSION]: 'v2', [TAG.OVERLAP_OPENED_AT]: OPENED },
    ]) {
      const view = rotationView(secret(versions, tags));
      expect(view.previousVersionId, JSON.stringify(tags)).toBeUndefined();
      expect(view.overlapOpenedAt, JSON.stringify(tags)).toBeUndefined();
      expect(acceptedVersionIds(view), JSON.stringify(tags)).toEqual(['v2']);
    }
  });

  it('emergency only when the tag names the pending or current version (the old "true" no longer counts)', () => {
    expect(rotationView(secret([['v1', [STAGE.CURRENT]]], { [TAG.EMERGENCY]: 'v1' })).emergency).toBe(true);
    expect(rotationView(secret([['v1', [STAGE.CURRENT]], ['v2', [STAGE.PENDING]]], { [TAG.EMERGENCY]: 'v2' })).emergency).toBe(true);
    expect(rotationView(secret([['v1', [STAGE.CURRENT]]], { [TAG.EMERGENCY]: 'v0' })).emergency).toBe(false);
    expect(rotationView(secret([['v1', [STAGE.CURRENT]]], { [TAG.EMERGENCY]: 'true' })).emergency).toBe(false);
    expect(rotationView(secret([['v1', [STAGE.CURRENT]]])).emergency).toBe(false);
  });

  it('a secret with no current version yet', () => {
    const view = rotationView(secret([['v1', [STAGE.PENDING]]]));
    expect(view).toMatchObject({ currentVersionId: undefined, pendingVersionId: 'v1', rotating: true });
    expect(acceptedVersionIds(view)).toEqual(['v1']);
  });
});

describe('acceptedVersionIds', () => {
  it('current first, then pending, then the overlap version, each once', () => {
    expect(acceptedVersionIds({ currentVersionId: 'a', pendingVersionId: 'b', previousVersionId: 'c', rotating: true, emergency: false })).toEqual(['a', 'b', 'c']);
    expect(acceptedVersionIds({ currentVersionId: 'a', pendingVersionId: 'a', previousVersionId: 'a', rotating: true, emergency: false })).toEqual(['a']);
    expect(acceptedVersionIds({ currentVersionId: 'a', pendingVersionId: 'c', previousVersionId: 'c', rotating: true, emergency: false })).toEqual(['a', 'c']);
    expect(acceptedVersionIds({ rotating: false, emergency: false })).toEqual([]);
  });
});

describe('progressTags', () => {
  const now = new Date('2026-01-01T00:00:00.000Z');

  it('reads each progress tag on its own, the remaining wait rounded up and never negative', () => {
    expect(progressTags({ [TAG.PROGRESS_STEP]: 'testSecret' }, now)).toEqual({ step: 'testSecret' });
    expect(progressTags({ [TAG.PROGRESS_WAITING_FOR]: 'wafv2:acl' }, now)).toEqual({ waitingFor: 'wafv2:acl' });
    expect(progressTags({ [TAG.LAST_ERROR]: 'setSecret refused' }, now)).toEqual({ lastError: 'setSecret refused' });
    expect(progressTags({ [TAG.PROGRESS_UNTIL]: '2026-01-01T00:00:01.200Z' }, now)).toEqual({ until: '2026-01-01T00:00:01.200Z', etaSeconds: 2 });
    expect(progressTags({ [TAG.PROGRESS_UNTIL]: '2025-12-31T23:59:00.000Z' }, now)).toEqual({ until: '2025-12-31T23:59:00.000Z', etaSeconds: 0 });
  });

  it('is undefined without progress tags, and ignores an unreadable time', () => {
    expect(progressTags({}, now)).toBeUndefined();
    expect(progressTags({ [TAG.PROGRESS_UNTIL]: 'soon' }, now)).toBeUndefined();
  });
});
