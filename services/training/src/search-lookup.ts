// StartTraining with a search id: the genotype a succeeded search found, asked of the search
// service that owns it (SearchService.GetSearch at --search-addr): in a cluster the services share
// no disk, and the search service's database and files are its own.
import { status } from '@grpc/grpc-js';
import {
  createClient,
  FailedPreconditionError,
  InvalidArgumentError,
  isServiceError,
  NotFoundError,
  UnavailableError,
  type PromiseClient,
} from '@rnas/grpc';
import { genotypeFromProto, type Genotype } from '@rnas/nas';
import { SearchServiceService, SearchState, type Search } from '@rnas/proto';

/** How long StartTraining waits for the search service. */
export const SEARCH_LOOKUP_DEADLINE_MS = 10_000;

/** The genotypes of succeeded searches, from the search service; one channel, opened on first use. */
export class SearchLookup {
  private client: PromiseClient<typeof SearchServiceService> | undefined;

  constructor(
    /** The search service's address (--search-addr). */
    readonly address: string,
    private readonly deadlineMs = SEARCH_LOOKUP_DEADLINE_MS,
  ) {}

  /**
   * The result of search `searchId`: INVALID_ARGUMENT without an id, NOT_FOUND for a search the
   * search service does not know, FAILED_PRECONDITION for one that has not succeeded, UNAVAILABLE
   * naming the address when the search service cannot be asked.
   */
  async genotype(searchId: string): Promise<Genotype> {
    if (searchId === '') throw new InvalidArgumentError('search_id', searchId, 'a search id is required');
    this.client ??= createClient(SearchServiceService, this.address);
    let search: Search | undefined;
    try {
      search = (await this.client.getSearch({ searchId }, { deadlineMs: this.deadlineMs })).search;
    } catch (error) {
      if (!isServiceError(error)) throw error;
      // The search service refuses ids that cannot be one: no such search either way.
      if (error.code === status.NOT_FOUND || error.code === status.INVALID_ARGUMENT) {
        throw new NotFoundError('search', searchId);
      }
      throw new UnavailableError(
        `cannot ask the search service at ${this.address} (--search-addr) for search ` +
          `${JSON.stringify(searchId)}: ${status[error.code]} ${error.details}`,
      );
    }
    if (search === undefined) throw new NotFoundError('search', searchId);
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
}
