using CurvNative.Operators;
using CurvNative.Pinn.Training;
using CurvNative.Solvers;
using CurvNative.Tensors;

namespace CurvNative.Pinn.Optimizers;

/// <summary>An optimizer whose step is theta -= eta phi for a direction phi computed from the linearisation (r, J) of
/// the step's batch, eta from the step-size rule.</summary>
public abstract class LinearizedOptimizer(StepSizeRule rule) : PinnOptimizer
{
    /// <summary>J and the kernel, kept across steps (the linearisation lives for one step).</summary>
    protected StepWorkspace Workspace { get; } = new();

    /// <summary>phi for step <paramref name="step"/>, and a note on how it was computed (null when unremarkable).</summary>
    protected abstract (Tensor<double> Direction, string? Note) Direction(ResidualLinearization lin, long step);

    /// <inheritdoc/>
    public override PinnStepInfo Step(ResidualMap map, PinnBatch batch, long step)
    {
        ArgumentNullException.ThrowIfNull(map);
        var lin = map.Linearize(batch, Workspace);
        var (phi, remark) = Direction(lin, step);
        var (eta, note) = TakeStep(map, batch, phi.Span, rule);
        return new PinnStepInfo(lin.Loss, eta, note ?? remark);
    }
}

/// <summary>ENGD with the dense damped Gramian: theta -= eta (J^T J + lambda I)^-1 J^T r (for small P; the reference).</summary>
public sealed class EngdOptimizer(double damping, StepSizeRule rule) : LinearizedOptimizer(rule)
{
    /// <inheritdoc/>
    public override string Name => "engd";

    /// <inheritdoc/>
    protected override (Tensor<double> Direction, string? Note) Direction(ResidualLinearization lin, long step)
    {
        var (phi, method) = NaturalGradient.Dense(lin, damping);
        return (phi, Describe(method, "J^T J + lambda I"));
    }
}

/// <summary>ENGD-Woodbury: theta -= eta J^T (J J^T + lambda I)^-1 r, the same step as <see cref="EngdOptimizer"/> by the
/// push-through identity, at O(N^2 P) instead of O(P^3) (Guzmán-Cordero et al. 2025).</summary>
public sealed class WoodburyOptimizer(double damping, StepSizeRule rule) : LinearizedOptimizer(rule)
{
    /// <inheritdoc/>
    public override string Name => "engd-woodbury";

    /// <inheritdoc/>
    protected override (Tensor<double> Direction, string? Note) Direction(ResidualLinearization lin, long step)
    {
        var (phi, method) = NaturalGradient.Woodbury(lin, damping, Workspace);
        return (phi, Describe(method, "J J^T + lambda I"));
    }
}

/// <summary>
/// SPRING (Goldshlager, Abrahamsen, Lin 2024; for PINNs Guzmán-Cordero et al. 2025): with the previous direction phi',
/// zeta = r - mu J phi', phi = mu phi' + J^T (J J^T + lambda I)^-1 zeta (the least-norm correction of mu phi'), the step
/// theta -= min(eta, C / ||phi_hat||) phi_hat with the bias-corrected phi_hat = phi / sqrt(1 - mu^(2k)) at step k.
/// mu = 0 is <see cref="WoodburyOptimizer"/>.
/// </summary>
public sealed class SpringOptimizer : PinnOptimizer
{
    private readonly double _damping, _momentum, _maxNorm;
    private readonly StepSizeRule _rule;
    private readonly StepWorkspace _workspace = new();
    private double[]? _phi;
    private long _count;

    /// <summary>SPRING with damping lambda, momentum mu in [0, 1), step-size rule and norm constraint C (infinity: none).</summary>
    public SpringOptimizer(double damping, double momentum, StepSizeRule rule, double maxNorm = double.PositiveInfinity)
    {
        if (!(momentum >= 0 && momentum < 1)) throw new ArgumentOutOfRangeException(nameof(momentum), $"The momentum must be in [0, 1), got {momentum}.");
        if (!(maxNorm > 0)) throw new ArgumentOutOfRangeException(nameof(maxNorm), $"The norm constraint must be positive, got {maxNorm}.");
        _damping = damping; _momentum = momentum; _rule = rule; _maxNorm = maxNorm;
    }

    /// <inheritdoc/>
    public override string Name => "spring";

    /// <inheritdoc/>
    public override PinnStepInfo Step(ResidualMap map, PinnBatch batch, long step)
    {
        ArgumentNullException.ThrowIfNull(map);
        var lin = map.Linearize(batch, _workspace);
        var zeta = lin.Residual.ToArray();
        if (_phi is not null && _momentum > 0)
        {
            var jphi = lin.Times(_phi);
            for (int i = 0; i < zeta.Length; i++) zeta[i] -= _momentum * jphi.Span[i];
        }
        var (alpha, method) = NaturalGradient.KernelSolve(lin, _damping, zeta, _workspace);
        var phi = lin.TransposeTimes(alpha).ToArray();
        if (_phi is not null)
            for (int i = 0; i < phi.Length; i++) phi[i] += _momentum * _phi[i];
        _phi = phi;
        _count++;
        double correction = _momentum > 0 ? 1.0 / Math.Sqrt(1 - Math.Pow(_momentum, 2 * _count)) : 1.0;
        var hat = new double[phi.Length];
        for (int i = 0; i < phi.Length; i++) hat[i] = correction * phi[i];
        var (eta, note) = TakeStep(map, batch, hat, _rule, _maxNorm);
        return new PinnStepInfo(lin.Loss, eta, note ?? Describe(method, "J J^T + lambda I"));
    }

    /// <inheritdoc/>
    public override IReadOnlyDictionary<string, double[]> State()
        => _phi is null ? new Dictionary<string, double[]>() : new Dictionary<string, double[]> { ["spring.phi"] = (double[])_phi.Clone(), ["spring.count"] = [_count] };

    /// <inheritdoc/>
    public override void LoadState(IReadOnlyDictionary<string, double[]> state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (!state.ContainsKey("spring.phi")) { _phi = null; _count = 0; return; }
        _phi = Require(state, "spring.phi", state["spring.phi"].Length);
        _count = (long)Require(state, "spring.count", 1)[0];
    }
}

/// <summary>ENGD with the kernel replaced by its randomized Nyström sketch of size L (sketch-and-solve; see
/// <see cref="NaturalGradient.Nystrom"/>): O(N P L + N L^2) per step instead of O(N^2 P).</summary>
public sealed class NystromOptimizer(double damping, int sketch, StepSizeRule rule, int seed) : LinearizedOptimizer(rule)
{
    /// <inheritdoc/>
    public override string Name => "nystrom";

    /// <inheritdoc/>
    protected override (Tensor<double> Direction, string? Note) Direction(ResidualLinearization lin, long step)
    {
        var rng = new Random(PinnBatch.Mix(seed ^ 0x5bd1e995, step)); // a sketch per step, reproducible on resume
        var (phi, _, method) = NaturalGradient.Nystrom(lin, damping, Math.Min(sketch, lin.Rows), rng);
        return (phi, Describe(method, "Nyström core"));
    }
}

/// <summary>
/// Hessian-free ENGD (Gauss-Newton-CG, Martens 2010): the direction solves (G + lambda I) phi = J^T r by the library's
/// conjugate gradients on the Gramian operator G = J^T J (<see cref="ResidualLinearization.Gramian"/>), at most
/// <c>maxIterations</c> products, warm-started from the previous direction.
/// </summary>
public sealed class HessianFreeOptimizer(double damping, StepSizeRule rule, int maxIterations = 350, double tolerance = 1e-10) : PinnOptimizer
{
    private readonly StepWorkspace _workspace = new();
    private double[]? _previous;

    /// <inheritdoc/>
    public override string Name => "hessian-free";

    /// <inheritdoc/>
    public override PinnStepInfo Step(ResidualMap map, PinnBatch batch, long step)
    {
        ArgumentNullException.ThrowIfNull(map);
        var lin = map.Linearize(batch, _workspace);
        var gramian = lin.Gramian();
        var cg = new ConjugateGradient<double>(gramian, null, new SolverOptions { Damping = damping, MaxIterations = maxIterations, Tolerance = tolerance });
        var guess = _previous is null ? null : Tensor<double>.FromArray((double[])_previous.Clone(), _previous.Length);
        var result = cg.Solve(lin.Gradient(), guess);
        var phi = result.Solution.ToArray();
        if (!phi.All(double.IsFinite)) return new PinnStepInfo(lin.Loss, 0, $"CG: {result.Status}, non-finite direction, step skipped");
        _previous = phi;
        var (eta, note) = TakeStep(map, batch, phi, rule);
        return new PinnStepInfo(lin.Loss, eta, note ?? (result.Converged ? null : $"CG: {result.Status} after {result.Iterations} iterations"));
    }

    /// <inheritdoc/>
    public override IReadOnlyDictionary<string, double[]> State()
        => _previous is null ? new Dictionary<string, double[]>() : new Dictionary<string, double[]> { ["hf.previous"] = (double[])_previous.Clone() };

    /// <inheritdoc/>
    public override void LoadState(IReadOnlyDictionary<string, double[]> state)
    {
        ArgumentNullException.ThrowIfNull(state);
        _previous = state.ContainsKey("hf.previous") ? Require(state, "hf.previous", state["hf.previous"].Length) : null;
    }
}

/// <summary>Adam (Kingma and Ba 2015) on the loss 1/2 ||r||^2: torch.optim.Adam's arithmetic
/// (<see cref="CurvNative.NN.Optim.AdamMoments"/>), gradient by one reverse pass.</summary>
public sealed class AdamOptimizer(double learningRate, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8) : PinnOptimizer
{
    private CurvNative.NN.Optim.AdamMoments? _moments;

    /// <inheritdoc/>
    public override string Name => "adam";

    /// <inheritdoc/>
    public override PinnStepInfo Step(ResidualMap map, PinnBatch batch, long step)
    {
        ArgumentNullException.ThrowIfNull(map);
        var (loss, gradient) = map.LossAndGradient(batch);
        _moments ??= new CurvNative.NN.Optim.AdamMoments(gradient.Length, beta1, beta2, epsilon);
        var direction = new double[gradient.Length];
        double eta = learningRate * _moments.Advance(gradient.Span, direction);
        map.Update(direction, eta);
        return new PinnStepInfo(loss, learningRate);
    }

    /// <inheritdoc/>
    public override IReadOnlyDictionary<string, double[]> State()
        => _moments is null ? new Dictionary<string, double[]>()
            : new Dictionary<string, double[]> { ["adam.m"] = _moments.FirstMoment, ["adam.v"] = _moments.SecondMoment, ["adam.t"] = [_moments.Steps] };

    /// <inheritdoc/>
    public override void LoadState(IReadOnlyDictionary<string, double[]> state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (!state.ContainsKey("adam.m")) { _moments = null; return; }
        int p = state["adam.m"].Length;
        _moments = new CurvNative.NN.Optim.AdamMoments(p, beta1, beta2, epsilon);
        _moments.Load(Require(state, "adam.m", p), Require(state, "adam.v", p), (long)Require(state, "adam.t", 1)[0]);
    }
}
