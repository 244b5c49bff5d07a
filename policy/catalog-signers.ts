// The catalog publishers this build trusts: Ed25519 public keys whose detached signature makes catalog.yaml usable.
// They ship with the code, not with the config: a config folder alone cannot vouch for its own catalog
// (policy.yaml `quarantine.catalog_signers` may add an organisation's own publisher; see docs/catalog.md).

export interface CatalogSigner {
  /** Shown as who signed the catalog in force. */
  name: string;
  /** The raw 32-byte Ed25519 public key, base64. */
  publicKey: string;
}

export const CATALOG_SIGNERS: readonly CatalogSigner[] = Object.freeze([
  // The SecAI OS catalog publisher; its secret key is kept outside the repository (docs/catalog.md: re-signing).
  Object.freeze({ name: 'secai-catalog-2026', publicKey: 'mvwZt8gOYvJ7bFBfaRZLjkNC0CXsM97XhLIrW7CNfgw=' }),
]);
