/** Grants for secrets adopted after `cdk destroy` (config `secrets[].adoptRetained`, lib/rotation.ts). */
import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';

/**
 * `kms:Decrypt` on the retained key of an adopted secret (config `adoptRetained`), through Secrets Manager only.
 * CDK cannot add this to an imported key's policy (it drops the grant), so it goes into the grantee's policy;
 * a secret whose key this stack created needs nothing here. The retained key's policy trusts the account.
 */
export function grantAdoptedKeyDecrypt(secret: secretsmanager.ISecret, grantee: iam.IGrantable): void {
  const key = secret.encryptionKey;
  if (!key || key instanceof kms.Key) return;
  grantee.grantPrincipal.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ['kms:Decrypt'],
      resources: [key.keyArn],
      conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${Stack.of(secret).region}.amazonaws.com` } },
    }),
  );
}
