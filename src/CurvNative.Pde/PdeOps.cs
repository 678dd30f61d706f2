using System.Numerics;
using CurvNative.Autodiff;
using CurvNative.Autodiff.Taylor;
using CurvNative.NN.Modules;
using CurvNative.Tensors;

namespace CurvNative.Pde;

/// <summary>
/// PDE operators of a network's scalar output u: R^D -> R with respect to its input, at a batch of points:
/// Taylor mode (collapsed or standard) or nested first-order autodiff. <see cref="Apply{T}(Func{Var{T}, Var{T}}, Tensor{T}, PdeOperator{T}, TaylorMode)"/>
/// returns graph nodes (a PINN differentiates them with respect to the parameters);
/// <see cref="Evaluate{T}(Func{Var{T}, Var{T}}, Tensor{T}, PdeOperator{T}, TaylorMode, int)"/> returns values, in chunks of bounded memory.
/// </summary>
public static class PdeOps
{
    /// <summary>
    /// The operator applied to u at the points X [N, D], as a differentiable result: u maps a [N, D] input to [N] or
    /// [N, 1] (for instance a Sequential's Forward), row n depending on row n only. Recording is switched on for the
    /// call, so the result is a node of the graph whenever u has parameters: <c>Autograd.Grad(F.Mean(F.Square(r)), params)</c>
    /// differentiates a residual r built from it, <see cref="PointJacobian"/> gives its per-point Jacobian.
    /// </summary>
    /// <exception cref="ArgumentException">X is not [N, D] with the operator's D, or u's output is not one value per point.</exception>
    /// <exception cref="MissingTaylorRuleException">A primitive of u has no Taylor rule (Taylor modes).</exception>
    public static PdeResult<T> Apply<T>(Func<Var<T>, Var<T>> u, Tensor<T> points, PdeOperator<T> op, TaylorMode mode = TaylorMode.Collapsed)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(u);
        ArgumentNullException.ThrowIfNull(op);
        CheckPoints(points, op.InputDimension);
        using var recording = GradMode.Enable();
        return Compute(u, points, 0, op, mode);
    }

    /// <summary><see cref="Apply{T}(Func{Var{T}, Var{T}}, Tensor{T}, PdeOperator{T}, TaylorMode)"/> for a module (its Forward).</summary>
    public static PdeResult<T> Apply<T>(Module<T> model, Tensor<T> points, PdeOperator<T> op, TaylorMode mode = TaylorMode.Collapsed)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Apply(model.Forward, points, op, mode);

    /// <summary>
    /// The operator's values [N] at the points X [N, D], computed in chunks of <paramref name="batchSize"/> points (memory
    /// bounded by one chunk; the Taylor sweep records nothing). Stochastic directions are drawn per point, so the values
    /// do not depend on the chunk size.
    /// </summary>
    public static Tensor<T> Evaluate<T>(Func<Var<T>, Var<T>> u, Tensor<T> points, PdeOperator<T> op, TaylorMode mode = TaylorMode.Collapsed, int batchSize = 1024)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(u);
        ArgumentNullException.ThrowIfNull(op);
        CheckPoints(points, op.InputDimension);
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), $"The batch size must be at least 1, got {batchSize}.");
        int n = points.Shape[0];
        var result = Tensor<T>.Zeros(n);
        int chunks = (n + batchSize - 1) / batchSize;
        // Chunks are independent: several at once on the threads (each with OpenBLAS at one thread), each written to
        // its own slice, so the values are the same bits for any thread count.
        Threading.ParallelWork.ForEachInOrder(chunks, c =>
        {
            int start = c * batchSize, count = Math.Min(batchSize, n - start);
            // A pool per chunk: the sweep hands dead coefficient buffers back and the next layers reuse them (a scope keeps
            // every buffer born in it until it closes, so one scope for all chunks would not bound the memory).
            using (GradMode.Enable())
            using (TensorPool<T>.Enter())
                return Compute(u, points.Slice0(start, count), start, op, mode, recordSweep: false).Values.Value;
        }, (c, values) => values.Span.CopyTo(result.Span.Slice(c * batchSize, values.Length)));
        return result;
    }

    /// <summary><see cref="Evaluate{T}(Func{Var{T}, Var{T}}, Tensor{T}, PdeOperator{T}, TaylorMode, int)"/> for a module.</summary>
    public static Tensor<T> Evaluate<T>(Module<T> model, Tensor<T> points, PdeOperator<T> op, TaylorMode mode = TaylorMode.Collapsed, int batchSize = 1024)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Evaluate(model.Forward, points, op, mode, batchSize);

    /// <summary>
    /// The input gradient grad u [N, D] at the points, by first-order forward (Taylor) mode along e_1..e_D
    /// (1 + D vectors per point), differentiable with respect to the parameters: for advection terms b . grad u.
    /// </summary>
    public static Var<T> InputGradient<T>(Func<Var<T>, Var<T>> u, Tensor<T> points) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(u);
        if (points.Rank != 2 || points.Shape[1] < 1) throw new ArgumentException($"Points must be [N, D] with D >= 1, got {Shape.Format(points.Shape)}.");
        int d = points.Shape[1];
        using var recording = GradMode.Enable();
        var (x, output) = Trace(u, points);
        var unit = PdeOperator<T>.Laplacian(d).Directions(0, points.Shape[0]).Directions;
        var jet = TaylorSweep.Run(x, output, unit, new JetSpec<T>(1, d, null)).Output;
        return PointsFirst(jet[1]!, points.Shape[0]);
    }

    /// <summary>Traces u at a fresh leaf copy of the points and checks its output is one value per point.</summary>
    private static (Var<T> X, Var<T> Output) Trace<T>(Func<Var<T>, Var<T>> u, Tensor<T> points) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var x = Var<T>.Leaf(points.Clone(), "x");
        var y = u(x);
        int n = points.Shape[0];
        if (!(y.Rank == 1 && y.Shape[0] == n) && !(y.Rank == 2 && y.Shape[0] == n && y.Shape[1] == 1))
            throw new ArgumentException($"PDE operators need a scalar output per point: u of [{n}, {points.Shape[1]}] must be [{n}] or [{n}, 1], got {Shape.Format(y.Shape)}.");
        return (x, y);
    }

    private static PdeResult<T> Compute<T>(Func<Var<T>, Var<T>> u, Tensor<T> points, int first, PdeOperator<T> op, TaylorMode mode, bool recordSweep = true)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = points.Shape[0];
        var (x, output) = Trace(u, points);
        var (directions, weights) = op.Directions(first, n);
        var u1 = F.Reshape(output, n);
        if (mode == TaylorMode.Nested)
        {
            var (values, inputGradient) = Nested.Apply(u1, x, op, directions, weights);
            return new PdeResult<T>(values, u1, inputGradient, null, null);
        }
        if (mode != TaylorMode.Collapsed && mode != TaylorMode.Standard)
            throw new ArgumentOutOfRangeException(nameof(mode), $"Unknown mode {mode}.");
        // Collapsed biharmonic: the first order is propagated along e_1..e_D only and combined per direction where needed.
        var shared = mode == TaylorMode.Collapsed ? op.SharedFirstOrder() : null;
        var spec = new JetSpec<T>(op.DerivativeOrder, weights.Length, mode == TaylorMode.Collapsed ? weights : null, shared);
        if (shared is not null) directions = PdeOperator<T>.Laplacian(op.InputDimension).Directions(first, n).Directions;
        TaylorResult<T> sweep;
        using (recordSweep ? GradMode.Enable() : GradMode.Disable())
            sweep = TaylorSweep.Run(x, output, directions, spec);
        var jet = sweep.Output;
        int order = spec.Order;
        // The top coefficient: already the weighted sum when collapsed; a stack [R, N(, 1)] to sum otherwise.
        var top = jet[order];
        Var<T> value = top is null ? Var<T>.Constant(Tensor<T>.Zeros(n))
            : spec.Collapsed ? F.Reshape(top, n) : F.Reshape(TaylorRules.WeightedSum(top, weights), n);
        Var<T>? first1 = jet[1] is { } c1 && !spec.IsCollapsed(1) ? PointsFirst(TaylorRules.PerDirection(spec, c1), n) : null;
        // The exact Laplacian's and biharmonic's first D directions are e_1..e_D (a shared first order is held for
        // exactly these): their coefficients are the gradient.
        Var<T>? gradient = null;
        if (first1 is not null && op.LeadsWithUnitDirections)
        {
            int d = op.InputDimension;
            gradient = shared is not null ? PointsFirst(jet[1]!, n)
                : d == weights.Length ? first1
                : F.Permute(F.GatherFlat(jet[1]!, Enumerable.Range(0, d * n).ToArray(), [d, n]), 1, 0);
        }
        return new PdeResult<T>(value, u1, gradient, first1, sweep.MaxVectors);
    }

    /// <summary>A stack [R, N(, 1)] as [N, R].</summary>
    private static Var<T> PointsFirst<T>(Var<T> stack, int n) where T : unmanaged, IFloatingPointIeee754<T>
        => F.Permute(F.Reshape(stack, stack.Shape[0], n), 1, 0);

    private static void CheckPoints<T>(Tensor<T> points, int d) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(points);
        if (points.Rank != 2 || points.Shape[1] != d)
            throw new ArgumentException($"Points must be [N, {d}] (the operator's input dimension D = {d}), got {Shape.Format(points.Shape)}.");
    }
}
