namespace CurvNative.Pinn.Optimizers;

/// <summary>
/// The hyper-parameters of a PINN optimizer as the command line gives them; null means the optimizer's default.
/// Defaults (from the best runs of Guzmán-Cordero et al. 2025 where they exist): damping 1e-8 (engd), 1e-10
/// (engd-woodbury, spring, nystrom), 0.1 (hessian-free); the grid line search for the natural-gradient methods
/// unless a learning rate is given; Adam lr 1e-3; SPRING momentum 0.3; sketch 10% of N.
/// </summary>
/// <param name="Optimizer">engd, engd-woodbury, spring, nystrom, hessian-free or adam.</param>
/// <param name="LearningRate">A fixed eta (null: line search; Adam: 1e-3).</param>
/// <param name="Damping">lambda.</param>
/// <param name="Momentum">SPRING's mu.</param>
/// <param name="Sketch">Nyström's L (null: 10% of N).</param>
/// <param name="NormConstraint">SPRING's C (null: none).</param>
/// <param name="Seed">Seeds the Nyström sketches.</param>
/// <param name="Points">N, to size the default sketch.</param>
public sealed record PinnOptimizerSettings(string Optimizer, double? LearningRate = null, double? Damping = null, double? Momentum = null,
    int? Sketch = null, double? NormConstraint = null, int Seed = 0, int Points = 0)
{
    /// <summary>Builds the optimizer.</summary>
    /// <exception cref="ArgumentException">An unknown optimizer or an out-of-range hyper-parameter.</exception>
    public PinnOptimizer Create()
    {
        if (LearningRate is { } lr && !(lr > 0 && double.IsFinite(lr))) throw new ArgumentException($"the learning rate must be positive, got {lr}.");
        if (Damping is { } d && !(d >= 0 && double.IsFinite(d))) throw new ArgumentException($"the damping must be >= 0, got {d}.");
        if (Momentum is { } mu && !(mu >= 0 && mu < 1)) throw new ArgumentException($"the momentum must be in [0, 1), got {mu}.");
        if (Sketch is { } s && s < 1) throw new ArgumentException($"the sketch size must be positive, got {s}.");
        if (NormConstraint is { } c && !(c > 0)) throw new ArgumentException($"the norm constraint must be positive, got {c}.");
        StepSizeRule rule = LearningRate is { } eta ? new StepSizeRule.Fixed(eta) : new StepSizeRule.GridLineSearch();
        return Optimizer?.ToLowerInvariant() switch
        {
            "engd" => new EngdOptimizer(Damping ?? 1e-8, rule),
            "engd-woodbury" => new WoodburyOptimizer(Damping ?? 1e-10, rule),
            "spring" => new SpringOptimizer(Damping ?? 1e-10, Momentum ?? 0.3, rule, NormConstraint ?? double.PositiveInfinity),
            "nystrom" => new NystromOptimizer(Damping ?? 1e-10, Sketch ?? Math.Max(1, Points / 10), rule, Seed),
            "hessian-free" => new HessianFreeOptimizer(Damping ?? 0.1, rule),
            "adam" => new AdamOptimizer(LearningRate ?? 1e-3),
            _ => throw new ArgumentException($"unknown optimizer '{Optimizer}'; expected one of {string.Join(", ", PinnOptimizer.Names)}."),
        };
    }
}
