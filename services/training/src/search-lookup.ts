// StartTraining with a search id: the genotype a succeeded search found, asked of the search
// service that owns it (SearchService.GetSearch at --search-addr): in a cluster the services share
// no disk, and the search service's database and files are its own.
//
// The call goes out with this service's own peer credentials (--peer-tls-*, --peer-token-file),
// never with the caller's token: the caller's credential stays with the service it was sent to.
// The peer identity is an admin of the search service, so it sees every search with its owner,
// and ownership is applied here with the same rule the search service applies (canAccess): a
// caller who may not see the search gets the NOT_FOUND an unknown id gets. A training stores the
// genotype when it is accepted, so nothing is looked up again later (a resumed training needs no
// search service).
import { status } from '@grpc/grpc-js';
import {
  canAccess,
  createClient,
  FailedPreconditionError,
  InvalidArgumentError,
  isServiceError,
  NotFoundError,
  PeerCredentials,
  peerCredentialsAdvice,
  UnavailableError,
  type Principal,
  type PromiseClient,
} from '@rnas/grpc';
import { genotypeFromProto, type Genotype } from '@rnas/nas';
import { SearchServiceService, SearchState, type Search } from '@rnas/proto';

/** How long StartTraining waits for the search service. */
export const SEARCH_LOOKUP_DEADLINE_MS = 10_000;

/** The genotypes of succeeded searches, from the search service; one channel, opened on first use. */
export class SearchLookup {
  private client: PromiseClient<typeof SearchServiceService> | undefined;
  /** The version of the peer TLS files the client was made with. */
  private clientTls = -1;

  constructor(
    /** The search service's address (--search-addr). */
    readonly address: string,
    /** What this service presents to the search service (plaintext and no token by default). */
    private readonly peer = new PeerCredentials(),
    private readonly deadlineMs = SEARCH_LOOKUP_DEADLINE_MS,
  ) {}

  /**
   * The result of search `searchId` for `caller`: INVALID_ARGUMENT without an id, NOT_FOUND for a
   * search the search service does not know or the caller may not see, FAILED_PRECONDITION for
   * one that has not succeeded or when the search service refuses this service's credentials,
   * UNAVAILABLE naming the address when the search service cannot be asked.
   */
  async genotype(searchId: string, caller: Principal): Promise<Genotype> {
    if (searchId === '') throw new InvalidArgumentError('search_id', searchId, 'a search id is required');
    let search: Search | undefined;
    try {
      search = (await this.channel().getSearch({ searchId }, { deadlineMs: this.deadlineMs })).search;
    } catch (error) {
      if (!isServiceError(error)) throw error;
      // The search service refuses ids that cannot be one: no such search either way.
      if (error.code === status.NOT_FOUND || error.code === status.INVALID_ARGUMENT) {
        throw new NotFoundError('search', searchId);
      }
      if (error.code === status.UNAUTHENTICATED || error.code === status.PERMISSION_DENIED) {
        // Not the caller's fault, and nothing a retry mends: the operator's configuration.
        throw new FailedPreconditionError(
          `cannot ask the search service at ${this.address} (--search-addr) for search ` +
            `${JSON.stringify(searchId)}: ${status[error.code]} ${error.details}; ` +
            peerCredentialsAdvice('training', 'search'),
        );
      }
      throw new UnavailableError(
        `cannot ask the search service at ${this.address} (--search-addr) for search ` +
          `${JSON.stringify(searchId)}: ${status[error.code]} ${error.details}`,
      );
    }
    // Before anything else about it: a search the caller may not see answers as one that does not exist.
    if (search === undefined || !canAccess(caller, search.owner)) throw new NotFoundError('search', searchId);
    if (search.state !== SearchState.SEARCH_STATE_SUCCEEDED) {
      const state = (SearchState[search.state] ?? String(search.state))
        .replace('SEARCH_STATE_', '')
        .toLowerCase();
      throw new FailedPreconditionError(
        `search ${JSON.stringify(searchId)} is ${state}; only a succeeded search can be trained`,
      );
    }
    if (search.best?.genotype === undefined) {
      throw new FailedPreconditionError(`search ${JSON.stringify(searchId)} succeeded without a genotype`);
    }
    try {
      return genotypeFromProto(search.best.genotype, `search ${searchId} result`);
    } catch (error) {
      throw new FailedPreconditionError(`search ${JSON.stringify(searchId)}: ${(error as Error).message}`);
    }
  }

  close(): void {
    this.client?.close();
    this.client = undefined;
  }

  /** The client, made again when the peer TLS files changed (a rotated client certificate or CA). */
  private channel(): PromiseClient<typeof SearchServiceService> {
    const { tls, version } = this.peer.tls();
    if (this.client === undefined || version !== this.clientTls) {
      // Lookups in flight on the old channel end by their deadline: close it after that.
      const old = this.client;
      if (old !== undefined) setTimeout(() => old.close(), this.deadlineMs).unref();
      this.client = createClient(SearchServiceService, this.address, {
        tls,
        token: this.peer.hasToken ? () => this.peer.token() : undefined,
      });
      this.clientTls = version;
    }
    return this.client;
  }
}
