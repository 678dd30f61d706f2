using CurvNative.Pinn.Training;
using CurvNative.Tensors;

namespace CurvNative.Pinn.Optimizers;

/// <summary>What one optimizer step did.</summary>
/// <param name="Loss">L = 1/2 ||r||^2 on the step's batch before the update.</param>
/// <param name="StepSize">The step size used (eta; 0 when no step was taken).</param>
/// <param name="Note">A numerical event worth reporting (a pseudo-inverse fallback, a line search without a finite
/// loss, CG not converged), or null.</param>
public sealed record PinnStepInfo(double Loss, double StepSize, string? Note = null);

/// <summary>How a natural-gradient step size is chosen.</summary>
public abstract record StepSizeRule
{
    /// <summary>A fixed learning rate eta.</summary>
    public sealed record Fixed(double LearningRate) : StepSizeRule;

    /// <summary>ENGD's grid line search (Müller and Zeinhofer 2023): the eta in {0.5^k : k = 0..MaxHalvings} that
    /// minimises the loss on the step's batch; no step (eta = 0) when none of them beats the loss at eta = 0, as in
    /// rla-pinns' <c>grid_line_search</c>.</summary>
    public sealed record GridLineSearch(int MaxHalvings = 30) : StepSizeRule;
}

/// <summary>A PINN optimizer: updates the parameters of a <see cref="ResidualMap"/> in place from one batch.</summary>
public abstract class PinnOptimizer
{
    /// <summary>The optimizer's name on the command line.</summary>
    public abstract string Name { get; }

    /// <summary>Takes step <paramref name="step"/> (1-based) on <paramref name="batch"/>.</summary>
    public abstract PinnStepInfo Step(ResidualMap map, PinnBatch batch, long step);

    /// <summary>The optimizer's state (momentum buffers, moments) by name, for checkpoints; empty when stateless.</summary>
    public virtual IReadOnlyDictionary<string, double[]> State() => new Dictionary<string, double[]>();

    /// <summary>Restores <see cref="State"/> (a resumed run continues as if never interrupted).</summary>
    /// <exception cref="ArgumentException">A buffer is missing or has the wrong length.</exception>
    public virtual void LoadState(IReadOnlyDictionary<string, double[]> state) { }

    /// <summary>The names of the optimizers <see cref="PinnOptimizerSettings.Create"/> builds.</summary>
    public static IReadOnlyList<string> Names { get; } = ["engd", "engd-woodbury", "spring", "nystrom", "hessian-free", "adam"];

    /// <summary>Applies theta -= eta phi with eta from <paramref name="rule"/>; returns eta (0 and a note when no grid
    /// point of the line search lowers the loss: then theta is unchanged).</summary>
    protected static (double Eta, string? Note) TakeStep(ResidualMap map, PinnBatch batch, ReadOnlySpan<double> direction, StepSizeRule rule, double maxNorm = double.PositiveInfinity)
    {
        double norm = Math.Sqrt(CurvNative.Tensors.Reductions.Dot<double>(direction, direction));
        double cap = double.IsPositiveInfinity(maxNorm) || norm == 0 ? double.PositiveInfinity : maxNorm / norm;
        if (rule is StepSizeRule.Fixed f)
        {
            double eta = Math.Min(f.LearningRate, cap);
            map.Update(direction, eta);
            return (eta, null);
        }
        var search = (StepSizeRule.GridLineSearch)rule;
        var theta = map.GetParameters();
        // The loss at eta = 0 by the same evaluation as the grid's: a step must beat it, or none is taken.
        double current = map.Loss(batch);
        double best = double.IsFinite(current) ? current : double.PositiveInfinity, bestEta = 0;
        double previous = 0;
        for (int k = 0; k <= search.MaxHalvings; k++)
        {
            double eta = Math.Min(Math.Pow(0.5, k), cap);
            if (k > 0 && eta == previous) break; // capped: the remaining grid points coincide
            previous = eta;
            map.SetParameters(theta.Span);
            map.Update(direction, eta);
            double loss = map.Loss(batch);
            if (loss < best) { best = loss; bestEta = eta; }
        }
        map.SetParameters(theta.Span);
        if (bestEta == 0)
            return (0, double.IsFinite(current) ? "line search: no grid step lowers the loss, step skipped" : "line search: no finite loss on the grid, step skipped");
        map.Update(direction, bestEta);
        return (bestEta, null);
    }

    /// <summary>A note for a pseudo-inverse fallback.</summary>
    protected static string? Describe(DampedSolveMethod method, string what)
        => method == DampedSolveMethod.Eigen ? $"{what}: not numerically positive definite, solved by the eigendecomposition's pseudo-inverse" : null;

    /// <summary>Checks a state buffer.</summary>
    protected static double[] Require(IReadOnlyDictionary<string, double[]> state, string name, int length)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (!state.TryGetValue(name, out var buffer)) throw new ArgumentException($"The optimizer state has no '{name}'.");
        if (buffer.Length != length) throw new ArgumentException($"The optimizer state '{name}' has {buffer.Length} entries, expected {length}.");
        return (double[])buffer.Clone();
    }

    /// <summary>A copy of a tensor's entries.</summary>
    protected static double[] Copy(Tensor<double> t) => t.ToArray();
}
