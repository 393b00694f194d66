/**
 * The tag on everything `etl cluster create` makes. `etl cluster delete` removes only what carries it, so a role,
 * rule or cluster someone made by hand under the same name is never touched.
 */
export const TAG_KEY = 'sparkify-etl';
export const TAG_VALUE = 'created';

export const TAGS = [{ Key: TAG_KEY, Value: TAG_VALUE }];

export const isOurs = (tags: readonly { Key?: string; Value?: string }[] | undefined): boolean =>
  (tags ?? []).some((tag) => tag.Key === TAG_KEY && tag.Value === TAG_VALUE);
