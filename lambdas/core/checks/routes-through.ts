/** Shared by the peering and transit gateway route checks: what a route table sends through one link. */
import { cidrWithin, type ObservedRoute } from '../audit-model.ts';

export interface RouteReview {
  /** Routes through the link. */
  through: ObservedRoute[];
  /** Problems in words: broader than allowed, prefix lists, blackholes. */
  problems: string[];
}

/**
 * Every route through the link must stay inside an allowed CIDR (nothing broader, never a default route),
 * be active, and there must be at least one: a listed route table with no route through the link is a cut.
 */
export function reviewRoutes(routes: ObservedRoute[], isThrough: (route: ObservedRoute) => boolean, allowedCidrs: string[], link: string): RouteReview {
  const through = routes.filter(isThrough);
  const problems: string[] = [];
  for (const route of through) {
    if (route.destination.startsWith('pl-')) {
      problems.push(`prefix list ${route.destination} is routed through ${link} (its entries are not checked against the allowed CIDRs)`);
    } else if (!allowedCidrs.some((allowed) => cidrWithin(route.destination, allowed))) {
      problems.push(`${route.destination} is routed through ${link} but is not within ${allowedCidrs.length ? allowedCidrs.join(', ') : 'any allowed CIDR'}`);
    } else if (route.state && route.state !== 'active') {
      problems.push(`the route to ${route.destination} through ${link} is ${route.state}`);
    }
  }
  if (through.length === 0) problems.push(`no route goes through ${link}`);
  return { through, problems };
}
