using CurvNative.Autodiff;
using CurvNative.NN.Modules;
using CurvNative.Operators;
using CurvNative.Pde;
using CurvNative.Pinn.Problems;
using CurvNative.Pinn.Training;
using CurvNative.Tensors;

namespace CurvNative.Pinn;

/// <summary>
/// The residual map of a PINN: theta -> r(theta) in R^N, the stacked and scaled residuals
/// r = [ (L[u_theta](x_i) - f(x_i)) / sqrt(N_Omega) ; (u_theta(y_j) - u*(y_j)) / sqrt(N_dOmega) ] at a batch of interior
/// points x_i and boundary points y_j, so that the loss is L(theta) = 1/2 ||r||^2 (half the sum of the two mean squared
/// residuals), its gradient J^T r and the ENGD Gramian (Müller and Zeinhofer 2023) G = J^T J with J = dr/dtheta [N, P].
/// L[u] comes from collapsed Taylor mode and is differentiable in theta; J is assembled from one reverse pass per set
/// through the linear layers' structure (<see cref="PointJacobian.Compute{T}(Var{T}, IReadOnlyList{Var{T}})"/>: per point and layer,
/// dr_n/dW = sum over the jet components q of g_{n,q} a_{n,q}^T, one GEMM with inner size Q).
/// </summary>
public sealed class ResidualMap
{
    private readonly Var<double>[] _parameters;

    /// <summary>The map of <paramref name="problem"/> for the network <paramref name="model"/> (scalar output,
    /// parameters theta in the order of <see cref="Module{T}.Parameters"/>).</summary>
    public ResidualMap(PinnProblem problem, Module<double> model)
    {
        ArgumentNullException.ThrowIfNull(problem);
        ArgumentNullException.ThrowIfNull(model);
        Problem = problem;
        Model = model;
        var parameters = model.Parameters().ToArray();
        if (parameters.Length == 0) throw new ArgumentException("The network has no parameters.", nameof(model));
        _parameters = parameters.Select(p => p.Var).ToArray();
        ParameterSpace = Space.FromParameters(parameters);
    }

    /// <summary>The problem.</summary>
    public PinnProblem Problem { get; }

    /// <summary>The network u_theta.</summary>
    public Module<double> Model { get; }

    /// <summary>The parameter space (one block per parameter tensor).</summary>
    public Space ParameterSpace { get; }

    /// <summary>P, the number of parameters.</summary>
    public int ParameterCount => ParameterSpace.Dimension;

    /// <summary>The parameters theta as graph leaves, in order.</summary>
    public IReadOnlyList<Var<double>> Parameters => _parameters;

    /// <summary>The two scaled residual vectors as graph nodes: interior [N_Omega] and boundary [N_dOmega].</summary>
    public (Var<double> Interior, Var<double> Boundary) Nodes(PinnBatch batch)
    {
        Check(batch);
        using var recording = GradMode.Enable();
        int ni = batch.Interior.Shape[0], nb = batch.Boundary.Shape[0];
        var lu = Problem.Operator(Model.Forward, batch.Interior);
        var interior = F.Scale(F.Sub(lu, Var<double>.Constant(Problem.Sources(batch.Interior))), 1.0 / Math.Sqrt(Math.Max(ni, 1)));
        var u = F.Reshape(Model.Forward(Var<double>.Constant(batch.Boundary.Clone())), nb);
        var boundary = F.Scale(F.Sub(u, Var<double>.Constant(Problem.Solutions(batch.Boundary))), 1.0 / Math.Sqrt(Math.Max(nb, 1)));
        return (interior, boundary);
    }

    /// <summary>r(theta) [N] at the current parameters (values only: no graph is kept).</summary>
    public Tensor<double> Residual(PinnBatch batch)
    {
        Check(batch);
        int ni = batch.Interior.Shape[0], nb = batch.Boundary.Shape[0];
        var r = Tensor<double>.Uninitialized(ni + nb);
        var rs = r.Span;
        var lu = Problem.OperatorValues(Model.Forward, batch.Interior).Span;
        var f = Problem.Sources(batch.Interior).Span;
        double si = 1.0 / Math.Sqrt(Math.Max(ni, 1)), sb = 1.0 / Math.Sqrt(Math.Max(nb, 1));
        for (int i = 0; i < ni; i++) rs[i] = si * (lu[i] - f[i]);
        Tensor<double> u;
        using (GradMode.Disable()) u = Model.Forward(Var<double>.Constant(batch.Boundary)).Value;
        var g = Problem.Solutions(batch.Boundary).Span;
        for (int i = 0; i < nb; i++) rs[ni + i] = sb * (u.Span[i] - g[i]);
        return r;
    }

    /// <summary>L(theta) = 1/2 ||r(theta)||^2.</summary>
    public double Loss(PinnBatch batch) => HalfSquaredNorm(Residual(batch).Span);

    /// <summary>The loss and its gradient J^T r [P] by one reverse pass (no Jacobian): what first-order methods need.</summary>
    public (double Loss, Tensor<double> Gradient) LossAndGradient(PinnBatch batch)
    {
        var (interior, boundary) = Nodes(batch);
        Var<double> loss;
        using (GradMode.Enable())
            loss = F.Scale(F.Add(F.Sum(F.Square(interior)), F.Sum(F.Square(boundary))), 0.5);
        var grads = Autograd.Grad(loss, _parameters);
        return (loss.Value.ToScalar(), ParameterSpace.Join(grads.Select(g => g.Value).ToArray()));
    }

    /// <summary>r and J = dr/dtheta [N, P] at the current parameters (rows: interior points, then boundary points).
    /// With a <paramref name="workspace"/>, J is written into its buffer (no N x P allocation per call) and is valid
    /// until the workspace's next use.</summary>
    public ResidualLinearization Linearize(PinnBatch batch, StepWorkspace? workspace = null)
    {
        var (interior, boundary) = Nodes(batch);
        int ni = interior.Shape[0], nb = boundary.Shape[0], p = ParameterCount;
        long size = (long)(ni + nb) * p;
        var j = workspace is null ? Tensor<double>.Uninitialized(ni + nb, p) : Tensor<double>.FromArray(workspace.Jacobian(size), ni + nb, p);
        // Each set's rows straight into their block of J: no per-set Jacobian and no copy.
        PointJacobian.Compute(interior, _parameters, j, 0);
        PointJacobian.Compute(boundary, _parameters, j, ni);
        return new ResidualLinearization(Stack(interior.Value, boundary.Value), j, ParameterSpace);
    }

    /// <summary>theta as one vector [P].</summary>
    public Tensor<double> GetParameters() => ParameterSpace.Join(_parameters.Select(v => v.Value).ToArray());

    /// <summary>Sets theta from one vector [P].</summary>
    public void SetParameters(ReadOnlySpan<double> theta)
    {
        if (theta.Length != ParameterCount) throw new ArgumentException($"Expected {ParameterCount} parameters, got {theta.Length}.");
        int offset = 0;
        foreach (var v in _parameters)
        {
            theta.Slice(offset, v.Length).CopyTo(v.Value.Span);
            offset += v.Length;
        }
    }

    /// <summary>theta -= step * direction.</summary>
    public void Update(ReadOnlySpan<double> direction, double step)
    {
        if (direction.Length != ParameterCount) throw new ArgumentException($"Expected a direction of {ParameterCount} entries, got {direction.Length}.");
        int offset = 0;
        foreach (var v in _parameters)
        {
            var s = v.Value.Span;
            for (int i = 0; i < s.Length; i++) s[i] -= step * direction[offset + i];
            offset += v.Length;
        }
    }

    /// <summary>1/2 sum_i r_i^2.</summary>
    internal static double HalfSquaredNorm(ReadOnlySpan<double> r) => 0.5 * CurvNative.Tensors.Reductions.Dot<double>(r, r);

    private static Tensor<double> Stack(Tensor<double> a, Tensor<double> b)
    {
        var r = Tensor<double>.Uninitialized(a.Length + b.Length);
        a.Span.CopyTo(r.Span);
        b.Span.CopyTo(r.Span.Slice(a.Length));
        return r;
    }

    private void Check(PinnBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        int d = Problem.Dimension;
        if (batch.Interior.Rank != 2 || batch.Interior.Shape[1] != d || batch.Boundary.Rank != 2 || batch.Boundary.Shape[1] != d)
            throw new ArgumentException($"{Problem.Name}: interior and boundary points must be [N, {d}], got {Shape.Format(batch.Interior.Shape)} and {Shape.Format(batch.Boundary.Shape)}.");
        if (batch.Count == 0) throw new ArgumentException("The batch has no points.");
    }
}
