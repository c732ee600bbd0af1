package govlake.checks;

import java.util.function.Function;

/**
 * A function argument's text parsed once: every row of a query passes the same literal (entity
 * types, address prefixes), so the last text and its parsed form are kept.
 */
final class LastParsed<T> {
  private final Function<String, T> parse;
  private volatile Object[] last; // {text, parsed}: one read sees both

  LastParsed(Function<String, T> parse) {
    this.parse = parse;
  }

  @SuppressWarnings("unchecked")
  T of(String text) {
    Object[] known = last;
    if (known != null && known[0].equals(text)) {
      return (T) known[1];
    }
    T parsed = parse.apply(text);
    last = new Object[] {text, parsed};
    return parsed;
  }
}
