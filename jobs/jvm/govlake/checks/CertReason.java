package govlake.checks;

import org.apache.spark.sql.api.java.UDF3;

/** GB/T 36904 certificate id: govlake_cert_reason(value, entity types, check issuer's code). */
public final class CertReason extends EntityReason
    implements UDF3<String, String, Boolean, String> {
  private static final long serialVersionUID = 1L;

  public CertReason() {
    super(true);
  }
}
