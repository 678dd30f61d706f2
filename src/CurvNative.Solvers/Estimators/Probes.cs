namespace CurvNative.Solvers.Estimators;

/// <summary>
/// Distribution of the random test vectors z of the stochastic estimators. Both satisfy
/// E[z zᵀ] = I, which makes zᵀ A z an unbiased estimate of tr(A) (Hutchinson 1989).
/// </summary>
public enum ProbeDistribution
{
    /// <summary>Independent ±1 entries with probability ½ each: the minimum-variance choice for the trace,
    /// Var[zᵀ A z] = 2 (‖A‖_F² − Σ_i a_ii²) for symmetric A.</summary>
    Rademacher,

    /// <summary>Independent standard normal entries: Var[zᵀ A z] = 2 ‖A‖_F² for symmetric A.</summary>
    Gaussian,
}

/// <summary>
/// Seeded random test vectors. Probe j consists of the n draws after those of probes 0 … j−1 from
/// <see cref="Random"/>(seed), so a set of probes does not depend on how it is split into batches and
/// the first m probes of a seed are the same whatever the total number.
/// </summary>
internal sealed class ProbeStream
{
    private readonly Random _rng;
    private readonly ProbeDistribution _distribution;
    private readonly int _n;
    private double? _spare;

    public ProbeStream(int n, ProbeDistribution distribution, int seed)
    {
        if (!Enum.IsDefined(distribution))
            throw new ArgumentException($"Unknown probe distribution {(int)distribution}; expected Rademacher or Gaussian.", nameof(distribution));
        _rng = new Random(seed);
        _distribution = distribution;
        _n = n;
    }

    /// <summary>The next k probes as a double [n, k] block (column c is one probe).</summary>
    public double[] Next(int k)
    {
        var block = new double[_n * k];
        for (int c = 0; c < k; c++)
            for (int i = 0; i < _n; i++) block[i * k + c] = Draw();
        return block;
    }

    /// <summary>One draw of the distribution.</summary>
    public double Draw() => _distribution == ProbeDistribution.Rademacher ? (_rng.Next(2) == 0 ? -1.0 : 1.0) : Gaussian();

    /// <summary>A standard normal draw (Box–Muller, the second value of each pair kept for the next call).</summary>
    public double Gaussian()
    {
        if (_spare is double s) { _spare = null; return s; }
        double u1 = 1.0 - _rng.NextDouble(), u2 = _rng.NextDouble();
        double r = Math.Sqrt(-2.0 * Math.Log(u1));
        _spare = r * Math.Sin(2 * Math.PI * u2);
        return r * Math.Cos(2 * Math.PI * u2);
    }
}
